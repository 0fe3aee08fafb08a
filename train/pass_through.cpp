#include "train/pass_through.h"

#include <algorithm>

namespace kiln::train {

nlohmann::ordered_json with_input_fields(const data::Record& record,
                                         const std::vector<std::string>& consumed,
                                         nlohmann::ordered_json output) {
  if (!record.fields.is_object()) return output;
  auto used = [&](const std::string& name, const nlohmann::ordered_json& line) {
    return output.contains(name) || line.contains(name) || record.fields.contains(name);
  };
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  for (const auto& [name, value] : record.fields.items()) {
    if (std::find(consumed.begin(), consumed.end(), name) != consumed.end()) continue;
    std::string key = name;
    if (output.contains(key)) {
      key = "input_" + key;
      while (used(key, line)) key = "input_" + key;
    }
    line[key] = value;
  }
  for (auto& [name, value] : output.items()) line[name] = std::move(value);
  return line;
}

}  // namespace kiln::train
