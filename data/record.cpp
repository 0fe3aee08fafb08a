#include <string>

#include "core/error.h"
#include "data/record_reader.h"

namespace kiln::data {

namespace {

// "; the record has: a, b" — a field-name mistake (--text-field sentence vs a "text" column) is
// the usual cause of a missing field, so the error shows what is there.
std::string field_list(const nlohmann::json& fields) {
  std::string s = "; the record has: ";
  bool first = true;
  for (const auto& [key, value] : fields.items()) {
    if (!first) s += ", ";
    s += key;
    first = false;
  }
  return first ? "; the record has no fields" : s;
}

}  // namespace

std::string Record::where() const {
  return source + ":" + std::to_string(line) + ": ";
}

bool Record::has(const std::string& name) const {
  return fields.is_object() && fields.contains(name);
}

const nlohmann::json& Record::field(const std::string& name) const {
  KILN_CHECK(has(name), where(), "missing field \"", name, "\"", field_list(fields));
  return fields.at(name);
}

std::string Record::string_field(const std::string& name) const {
  const nlohmann::json& value = field(name);
  KILN_CHECK(value.is_string(), where(), "field \"", name, "\" must be a string");
  return value.get<std::string>();
}

}  // namespace kiln::data
