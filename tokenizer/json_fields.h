// Typed access to tokenizer.json fields. Every failure names the full path of the field
// ("pre_tokenizer.pretokenizers[1].add_prefix_space") and what was expected, because a malformed
// file is a user error that has to be fixable from the message alone.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace kiln::tok {

using Json = nlohmann::json;

[[noreturn]] inline void field_error(const std::string& path, const std::string& what) {
  throw Error("tokenizer.json: field '" + path + "' " + what);
}

inline std::string type_name(const Json& j) {
  return j.type_name();
}

inline const Json& require(const Json& obj, const std::string& key, const std::string& path) {
  if (!obj.is_object()) field_error(path, "must be an object, got " + type_name(obj));
  auto it = obj.find(key);
  if (it == obj.end()) field_error(path + "." + key, "is missing");
  return *it;
}

inline std::string get_string(const Json& obj, const std::string& key, const std::string& path) {
  const Json& v = require(obj, key, path);
  if (!v.is_string()) field_error(path + "." + key, "must be a string, got " + type_name(v));
  return v.get<std::string>();
}

inline std::string get_string_or(const Json& obj, const std::string& key, const std::string& path,
                                 const std::string& fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) field_error(path + "." + key, "must be a string, got " + type_name(*it));
  return it->get<std::string>();
}

inline bool get_bool_or(const Json& obj, const std::string& key, const std::string& path,
                        bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    field_error(path + "." + key, "must be true or false, got " + type_name(*it));
  return it->get<bool>();
}

inline int64_t get_int_or(const Json& obj, const std::string& key, const std::string& path,
                          int64_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    field_error(path + "." + key, "must be an integer, got " + type_name(*it));
  return it->get<int64_t>();
}

inline int64_t get_int(const Json& obj, const std::string& key, const std::string& path) {
  const Json& v = require(obj, key, path);
  if (!v.is_number_integer())
    field_error(path + "." + key, "must be an integer, got " + type_name(v));
  return v.get<int64_t>();
}

inline std::string type_of(const Json& obj, const std::string& path) {
  return get_string(obj, "type", path);
}

}  // namespace kiln::tok
