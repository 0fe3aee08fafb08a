#include "tools/jsonl_input.h"

#include <fstream>
#include <iostream>

#include "core/error.h"

namespace kiln::cli {

JsonlInput::JsonlInput(const std::string& path) {
  if (path.empty() || path == "-") {
    in_ = &std::cin;
    name_ = "<stdin>";
  } else {
    auto f = std::make_unique<std::ifstream>(path);
    KILN_CHECK(*f, path, ": cannot open input file");
    in_ = f.get();
    owned_ = std::move(f);
    name_ = path;
  }
}

std::optional<nlohmann::json> JsonlInput::next() {
  std::string s;
  while (std::getline(*in_, s)) {
    ++line_;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    size_t first = s.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    if (s[first] != '{') return nlohmann::json{{"text", s}};
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception& e) {
      throw Error(name_ + ":" + std::to_string(line_) + ": malformed JSON line (" + e.what() + ")");
    }
    KILN_CHECK(j.is_object(), name_, ":", line_, ": expected a JSON object");
    return j;
  }
  return std::nullopt;
}

std::string JsonlInput::string_field(const nlohmann::json& obj, const std::string& field) const {
  auto it = obj.find(field);
  KILN_CHECK(it != obj.end(), name_, ":", line_, ": missing field \"", field, "\"");
  KILN_CHECK(it->is_string(), name_, ":", line_, ": field \"", field, "\" must be a string");
  return it->get<std::string>();
}

}  // namespace kiln::cli
