#include "train/image_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace kiln::train {

ImageInputs ImageInputs::from_config(const nlohmann::json& config, const nn::ModelSpec& spec,
                                     const std::string& origin) {
  ImageInputs in;
  const auto& names = spec.input_names;
  in.images = std::find(names.begin(), names.end(), "pixel_values") != names.end();
  in.metadata = std::find(names.begin(), names.end(), "metadata") != names.end();
  KILN_CHECK(in.images || in.metadata, origin, ": the ", spec.architecture,
             " takes neither pixel_values nor metadata, so it cannot classify images");
  if (in.images) in.preprocessing = nn::read_image_preprocessing(config, origin);
  if (in.metadata) {
    KILN_CHECK(config.contains("metadata_encoding"), origin,
               ": the model takes metadata but its config has no metadata_encoding");
    in.encoding = nn::MetadataEncoding::from_json(config["metadata_encoding"], origin);
  }
  return in;
}

data::Normalization ImageInputs::normalization() const {
  data::Normalization n;
  for (size_t c = 0; c < 3; ++c) {
    n.mean[c] = static_cast<float>(preprocessing.mean.at(c));
    n.std[c] = static_cast<float>(preprocessing.std.at(c));
  }
  return n;
}

data::EvalPreprocess ImageInputs::eval_preprocess() const {
  data::EvalPreprocess e;
  e.size = size();
  if (preprocessing.crop_pct > 0)
    e.resize_shorter = static_cast<int64_t>(
        std::floor(static_cast<double>(std::min(preprocessing.height, preprocessing.width)) /
                   preprocessing.crop_pct));
  return e;
}

std::vector<std::string> metadata_fields(const nn::MetadataEncoding& encoding) {
  std::vector<std::string> out = {encoding.age_field};
  for (const auto& [field, values] : encoding.categorical) out.push_back(field);
  return out;
}

nlohmann::json numeric_metadata_value(const nlohmann::json& value, const std::string& where,
                                      const std::string& field) {
  if (value.is_null()) return nullptr;
  if (value.is_number()) {
    const double v = value.get<double>();
    return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
  }
  if (value.is_string()) {
    const std::string s = value.get<std::string>();
    if (s.empty() || s == "nan" || s == "NaN" || s == "NA") return nullptr;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(v)) return v;
  }
  throw Error(where + "field \"" + field + "\": '" +
              (value.is_string() ? value.get<std::string>() : value.dump()) +
              "' is not a number (the model's numeric metadata field; leave it empty when "
              "missing)");
}

std::string categorical_metadata_value(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::vector<float> encode_metadata(const nn::MetadataEncoding& encoding,
                                   const nlohmann::json& fields, const std::string& where) {
  KILN_CHECK(fields.is_object(), where, "the metadata must be a JSON object");
  auto get = [&](const std::string& f) {
    const auto it = fields.find(f);
    return it == fields.end() ? nlohmann::json(nullptr) : *it;
  };
  // The record in the form MetadataEncoding::encode reads, checked here so that nothing is
  // silently turned into "missing" or "unknown".
  nlohmann::json normal = nlohmann::json::object();
  normal[encoding.age_field] =
      numeric_metadata_value(get(encoding.age_field), where, encoding.age_field);
  for (const auto& [field, values] : encoding.categorical) {
    std::string v = categorical_metadata_value(get(field));
    if (v.empty()) v = "unknown";  // a missing category, as the reference encoder takes it
    const bool known = std::find(values.begin(), values.end(), v) != values.end();
    const bool has_unknown = std::find(values.begin(), values.end(), "unknown") != values.end();
    if (!known && !has_unknown) {
      std::string list;
      for (const auto& c : values) list += (list.empty() ? "" : ", ") + c;
      throw Error(where + "field \"" + field + "\": unknown value '" + v +
                  "' (the model knows: " + list + ")");
    }
    normal[field] = v;
  }
  return encoding.encode(normal);
}

std::string resolve_image_path(const std::string& value, const std::string& image_dir,
                               const std::string& data_path) {
  namespace fs = std::filesystem;
  const fs::path p(value);
  if (p.is_absolute()) return value;
  if (!image_dir.empty()) return (fs::path(image_dir) / p).string();
  if (data_path.empty() || data_path == "-") return value;
  return (fs::path(data_path).parent_path() / p).string();
}

}  // namespace kiln::train
