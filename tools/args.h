// A small, strict command-line parser: every flag a command accepts is declared up front, so an
// unknown flag, a missing value or a malformed number is a usage error naming the flag.
// Accepted spellings: --name VALUE, --name=VALUE, -x VALUE for declared short aliases, and for
// boolean flags --name, --name=true|false.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string usage_line);

  // Declare flags before parse(). `short_alias` is e.g. "-m" (empty for none).
  ArgParser& option(const std::string& name, const std::string& help,
                    const std::string& short_alias = "",
                    std::optional<std::string> default_value = std::nullopt);
  ArgParser& flag(const std::string& name, const std::string& help, bool default_value = false);
  // Positional arguments in order; `required` ones must be present.
  ArgParser& positional(const std::string& name, const std::string& help, bool required = true);

  // Throws UsageError on anything undeclared or malformed. "--help"/"-h" sets help_requested().
  void parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  std::string help_text() const;

  bool has(const std::string& name) const;         // given on the command line or has a default
  std::string get(const std::string& name) const;  // throws UsageError if absent
  std::optional<std::string> get_optional(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_flag(const std::string& name) const;

 private:
  struct Spec {
    std::string name, help, short_alias;
    bool is_flag = false;
    std::optional<std::string> default_value;
  };
  struct Positional {
    std::string name, help;
    bool required;
  };
  const Spec* find(const std::string& token) const;

  std::string command_, usage_;
  std::vector<Spec> specs_;
  std::vector<Positional> positionals_;
  std::map<std::string, std::string> values_;
  bool help_ = false;
};

}  // namespace kiln::cli
