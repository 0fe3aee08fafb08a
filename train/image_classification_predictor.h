// `kiln classify`'s predictor for image-classification models: one label (with its probability)
// per record {"image": "path.jpg", "metadata": {...}}, preprocessed from the model's config as
// evaluation does (train/image_inputs.h). The metadata comes from the record's "metadata" object,
// or, when it has none, from the record's own fields (so the training CSV classifies as it is).
// Options:
//   "probs"           bool    add "probs": {label: probability}
//   "image_field"     string  the field holding the image path (default "image")
//   "metadata_field"  string  the field holding the metadata object (default "metadata")
//   "image_dir"       string  directory relative paths are under (default: the input file's
//                             directory; the current one for standard input)
// Output (after the passed-through input fields, train/pass_through.h):
//   {"image"?, "label", "score", "probs"?}
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "train/task.h"

namespace kiln::train {

std::unique_ptr<Predictor> make_image_classification_predictor(const TaskSetup& setup,
                                                               const nlohmann::json& options);

}  // namespace kiln::train
