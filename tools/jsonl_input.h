// Line-oriented input for the task commands: each line is a JSON object (JSON Lines) or, if it does
// not start with '{', plain text taken as {"text": line}. A malformed JSON line, or one missing a
// required field, is an error naming the source and line number.
#pragma once

#include <istream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kiln::cli {

class JsonlInput {
 public:
  // path "-" or empty reads stdin.
  explicit JsonlInput(const std::string& path);
  // The next non-empty line as a JSON object; nullopt at end of input.
  std::optional<nlohmann::json> next();
  size_t line() const { return line_; }
  const std::string& name() const { return name_; }
  // The string field `field` of `obj`; throws naming the line when absent or not a string.
  std::string string_field(const nlohmann::json& obj, const std::string& field) const;

 private:
  std::unique_ptr<std::istream> owned_;
  std::istream* in_;
  std::string name_;
  size_t line_ = 0;
};

}  // namespace kiln::cli
