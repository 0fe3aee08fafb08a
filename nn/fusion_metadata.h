// The fusion model's metadata encoding (../shared/refs/models/fusion-tiny/README.md): a float32
// vector [age_z, age_missing, one-hot of each categorical field...], its constants and category
// lists stored in the model's config so that classify encodes records as training did.
//   age_z = (f32(age) - f32(age_mean)) / f32(age_std), 0 when the age is missing (absent, null,
//   empty, NaN), with age_missing = 1 then;
//   each categorical field (sex, localization) one-hot over its list; a value not in the list
//   (empty included) counts as "unknown" (all zeros if the list has no "unknown").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace kiln::nn {

struct MetadataEncoding {
  std::string age_field = "age";
  double age_mean = 0, age_std = 1;
  // (field, categories) in layout order.
  std::vector<std::pair<std::string, std::vector<std::string>>> categorical;

  int64_t size() const;
  std::vector<std::string> layout() const;  // "age_z", "age_missing", "sex=male", ...
  // Reads {"layout": [...], "age_mean", "age_std", "<field>": [categories]...}; the layout's
  // "field=value" entries fix the order and must agree with the lists.
  static MetadataEncoding from_json(const nlohmann::json& j, const std::string& origin);
  nlohmann::json to_json() const;
  // One record {"age": 55, "sex": "male", "localization": "back"} (numbers as JSON numbers or
  // strings, as a CSV gives them) -> size() floats.
  std::vector<float> encode(const nlohmann::json& record) const;
};

}  // namespace kiln::nn
