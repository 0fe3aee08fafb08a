// A small, strict command-line parser: every flag a command accepts is declared up front, so an
// unknown flag, a missing value or a malformed number is a usage error naming the flag.
// Accepted spellings: --name VALUE, --name=VALUE, -x VALUE for declared short aliases, and for
// boolean flags --name, --name=true|false. A repeated option keeps its last value. An option's
// value is always the next argument, even when it begins with '-' (--stride -1).
// CLI11 does the parsing underneath; this class keeps kiln's rules and messages on top of it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace kiln::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string usage_line);
  ~ArgParser();
  ArgParser(ArgParser&&) noexcept;
  ArgParser& operator=(ArgParser&&) noexcept;

  // Declare flags before parse(). `short_alias` is e.g. "-m" (empty for none).
  ArgParser& option(const std::string& name, const std::string& help,
                    const std::string& short_alias = "",
                    std::optional<std::string> default_value = std::nullopt);
  ArgParser& flag(const std::string& name, const std::string& help, bool default_value = false);
  // Positional arguments in order; `required` ones must be present.
  ArgParser& positional(const std::string& name, const std::string& help, bool required = true);

  // Throws UsageError on anything undeclared or malformed. "--help"/"-h" sets help_requested(),
  // and then missing positionals are not an error.
  void parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  std::string help_text() const;

  bool has(const std::string& name) const;         // given on the command line or has a default
  bool given(const std::string& name) const;       // given on the command line; a default is not
  std::string get(const std::string& name) const;  // throws UsageError if absent
  std::optional<std::string> get_optional(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_flag(const std::string& name) const;

 private:
  // One per declaration, beside its CLI11 option: kiln's name for it, and what CLI11 does not
  // record: whether an option has a default at all (an empty default is still a default) and
  // whether a positional may be left out.
  struct Declared {
    std::string name;  // without dashes
    CLI::Option* option;
    bool is_flag, has_default, required;
  };
  ArgParser& declare(const std::string& name, CLI::Option* option, bool is_flag, bool has_default,
                     bool required);
  const Declared* find(const std::string& name) const;
  const Declared* find_by_token(const std::string& token) const;
  std::vector<std::string> prepare_for_cli11(const std::vector<std::string>& args) const;
  void reject_leftovers() const;
  void reject_non_boolean_flag_values() const;
  std::string unknown_option_message(const std::string& token) const;

  std::string command_, usage_;
  std::unique_ptr<CLI::App> app_;
  CLI::Option* help_option_ = nullptr;
  std::vector<Declared> declared_;
  bool help_ = false;
};

}  // namespace kiln::cli
