#include "nn/fusion_metadata.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace kiln::nn {

int64_t MetadataEncoding::size() const {
  int64_t n = 2;
  for (const auto& [field, values] : categorical) n += static_cast<int64_t>(values.size());
  return n;
}

std::vector<std::string> MetadataEncoding::layout() const {
  std::vector<std::string> out = {age_field + "_z", age_field + "_missing"};
  for (const auto& [field, values] : categorical)
    for (const auto& v : values) out.push_back(field + "=" + v);
  return out;
}

MetadataEncoding MetadataEncoding::from_json(const nlohmann::json& j, const std::string& origin) {
  const std::string where = origin + " metadata_encoding";
  KILN_CHECK(j.is_object(), where, " must be an object");
  MetadataEncoding e;
  for (const char* k : {"age_mean", "age_std"})
    KILN_CHECK(j.contains(k) && j[k].is_number(), where, ": '", k, "' must be a number");
  e.age_mean = j["age_mean"].get<double>();
  e.age_std = j["age_std"].get<double>();
  KILN_CHECK(e.age_std > 0, where, ": age_std must be positive");
  KILN_CHECK(j.contains("layout") && j["layout"].is_array() && j["layout"].size() >= 2, where,
             ": 'layout' must list the vector's entries");
  const auto& layout = j["layout"];
  KILN_CHECK(layout[0].is_string() && layout[1].is_string(), where, ": bad layout");
  const std::string z = layout[0].get<std::string>();
  KILN_CHECK(z.size() > 2 && z.compare(z.size() - 2, 2, "_z") == 0 &&
                 layout[1].get<std::string>() == z.substr(0, z.size() - 2) + "_missing",
             where, ": the layout must start with <age>_z, <age>_missing");
  e.age_field = z.substr(0, z.size() - 2);
  for (size_t i = 2; i < layout.size(); ++i) {
    KILN_CHECK(layout[i].is_string(), where, ": layout entries must be strings");
    const std::string s = layout[i].get<std::string>();
    const size_t eq = s.find('=');
    KILN_CHECK(eq != std::string::npos && eq > 0, where, ": layout entry '", s,
               "' is not field=value");
    const std::string field = s.substr(0, eq), value = s.substr(eq + 1);
    if (e.categorical.empty() || e.categorical.back().first != field) {
      for (const auto& [f, v] : e.categorical)
        KILN_CHECK(f != field, where, ": field '", field, "' is split in the layout");
      e.categorical.push_back({field, {}});
    }
    e.categorical.back().second.push_back(value);
  }
  for (const auto& [field, values] : e.categorical) {
    if (!j.contains(field)) continue;
    KILN_CHECK(j[field] == nlohmann::json(values), where, ": the '", field,
               "' list disagrees with the layout");
  }
  return e;
}

nlohmann::json MetadataEncoding::to_json() const {
  nlohmann::json j = {{"layout", layout()}, {"age_mean", age_mean}, {"age_std", age_std}};
  for (const auto& [field, values] : categorical) j[field] = values;
  return j;
}

namespace {

// The age as a number, or NaN when missing (absent, null, "", "nan", unparsable).
double age_of(const nlohmann::json& record, const std::string& field) {
  const auto it = record.find(field);
  if (it == record.end() || it->is_null()) return std::nan("");
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return v;
  }
  return std::nan("");
}

std::string text_of(const nlohmann::json& record, const std::string& field) {
  const auto it = record.find(field);
  return it != record.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::vector<float> MetadataEncoding::encode(const nlohmann::json& record) const {
  std::vector<float> v(static_cast<size_t>(size()), 0.0f);
  const double age = age_of(record, age_field);
  if (std::isnan(age)) {
    v[1] = 1.0f;
  } else {  // in float32, as the reference encoder computes it
    v[0] = (static_cast<float>(age) - static_cast<float>(age_mean)) / static_cast<float>(age_std);
  }
  size_t at = 2;
  for (const auto& [field, values] : categorical) {
    const std::string s = text_of(record, field);
    size_t hit = values.size(), unknown = values.size();
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] == s) hit = i;
      if (values[i] == "unknown") unknown = i;
    }
    if (hit == values.size()) hit = unknown;
    if (hit < values.size()) v[at + hit] = 1.0f;
    at += values.size();
  }
  return v;
}

}  // namespace kiln::nn
