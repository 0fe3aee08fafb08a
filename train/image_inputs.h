// What image classification's training, evaluation and `kiln classify` share: reading from a
// model's config which inputs it takes (pixel_values, metadata, or both) and how to make them,
// resolving image paths, and turning a record's metadata fields into the model's vector with
// errors that name the record and the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/image_augment.h"
#include "data/image_example.h"
#include "data/image_tensor.h"
#include "nn/densenet_config.h"
#include "nn/family.h"
#include "nn/fusion_metadata.h"

namespace kiln::train {

struct ImageInputs {
  bool images = false;    // the model takes pixel_values
  bool metadata = false;  // the model takes metadata (its encoding is in the config)
  nn::ImagePreprocessing preprocessing;
  nn::MetadataEncoding encoding;

  // From a model config in kiln's form and its spec (input_names); errors name `origin`.
  static ImageInputs from_config(const nlohmann::json& config, const nn::ModelSpec& spec,
                                 const std::string& origin);

  data::Size2 size() const { return {preprocessing.width, preprocessing.height}; }
  data::Normalization normalization() const;
  // Evaluation and inference: with crop_pct, the shorter side resized to
  // floor(min(H, W) / crop_pct) then a centre crop (timm's eval transform); without, a resize
  // straight to H x W (the config's meaning of crop_pct 0).
  data::EvalPreprocess eval_preprocess() const;
};

// The metadata fields a model's encoding reads, in layout order: the numeric field, then each
// categorical one.
std::vector<std::string> metadata_fields(const nn::MetadataEncoding& encoding);

// A metadata value as the encoding reads it: null when missing (JSON null, an empty string,
// "nan"), a number for the numeric field, a string for categorical ones (JSON numbers and
// booleans are written out, as a CSV would hold them).
nlohmann::json numeric_metadata_value(const nlohmann::json& value, const std::string& where,
                                      const std::string& field);
std::string categorical_metadata_value(const nlohmann::json& value);

// `fields` (a record's fields, or its "metadata" object) encoded as the model's vector. A value
// that cannot be read (a non-numeric age) or a category the encoding does not know (when it has
// no "unknown" category to map it to) is an error "<where>field \"name\": ..."; a field that is
// absent counts as missing.
std::vector<float> encode_metadata(const nn::MetadataEncoding& encoding,
                                   const nlohmann::json& fields, const std::string& where);

// An image reference from a record: absolute paths as they are; relative ones under `image_dir`
// when given, else under the directory of `data_path` (the data file; "-" or "": the current
// directory).
std::string resolve_image_path(const std::string& value, const std::string& image_dir,
                               const std::string& data_path);

}  // namespace kiln::train
