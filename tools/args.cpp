#include "tools/args.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <CLI/CLI.hpp>

#include "tools/command.h"
#include "tools/flag_hints.h"

namespace kiln::cli {

ArgParser::ArgParser(std::string command, std::string usage_line)
    : command_(std::move(command)),
      usage_(std::move(usage_line)),
      app_(std::make_unique<CLI::App>("", "kiln " + command_)) {
  // kiln handles --help itself: CLI11's help flag throws before unknown flags are reported, and
  // the commands print their own help text.
  app_->set_help_flag();
  const std::string help = "print this help";
  help_option_ = app_->add_flag("--help,-h", help);
  // Leftovers are reported by reject_leftovers(), in kiln's words and with a "did you mean".
  app_->allow_extras();
}

ArgParser::~ArgParser() = default;
ArgParser::ArgParser(ArgParser&&) noexcept = default;
ArgParser& ArgParser::operator=(ArgParser&&) noexcept = default;

ArgParser& ArgParser::declare(const std::string& name, CLI::Option* option, bool is_flag,
                              bool has_default, bool required) {
  declared_.push_back({name, option, is_flag, has_default, required});
  return *this;
}

ArgParser& ArgParser::option(const std::string& name, const std::string& help,
                             const std::string& short_alias, std::optional<std::string> def) {
  const std::string names = "--" + name + (short_alias.empty() ? "" : "," + short_alias);
  // take_last: a repeated option keeps its last value, which is how `kiln train --resume`
  // applies overrides (it appends them to the original command line).
  CLI::Option* o = app_->add_option(names, help)->take_last();
  if (def) o->default_str(*def);
  return declare(name, o, false, def.has_value(), false);
}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help, bool def) {
  CLI::Option* o = app_->add_flag("--" + name, help)->default_str(def ? "true" : "false");
  return declare(name, o, true, true, false);
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& help, bool required) {
  // Not CLI11-required: a missing positional must not hide an unknown flag, nor fail --help.
  return declare(name, app_->add_option(name, help), false, false, required);
}

const ArgParser::Declared* ArgParser::find(const std::string& name) const {
  for (const auto& d : declared_)
    if (d.name == name) return &d;
  return nullptr;
}

// The declared option or flag spelled exactly `token` ("--name" or a short alias "-x").
const ArgParser::Declared* ArgParser::find_by_token(const std::string& token) const {
  if (token.empty() || token[0] != '-') return nullptr;
  for (const auto& d : declared_)
    if (!d.option->get_positional() && d.option->check_name(token)) return &d;
  return nullptr;
}

// Where CLI11 would read an argument differently from kiln's rules, settle it before CLI11 sees
// it. Arguments that are the value of the option before them are left alone (so `--stride -1`
// stays a value), as is everything after "--".
//  - "--name=": CLI11 would take the next argument as the value; kiln reads an empty value.
//  - "-xVALUE", "-x=VALUE", "-5": CLI11 would read a value glued to a short alias ("=VALUE" for
//    "-m=model.kiln") or a positional; kiln only knows "-x" exactly, so these are unknown.
std::vector<std::string> ArgParser::prepare_for_cli11(const std::vector<std::string>& args) const {
  std::vector<std::string> out;
  bool is_value = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (is_value) {
      out.push_back(a);
      is_value = false;
      continue;
    }
    if (a == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    const Declared* d = find_by_token(a);
    const bool is_short = a.size() > 1 && a[0] == '-' && a[1] != '-';
    if (is_short && !d && a != "-h") throw UsageError(unknown_option_message(a));
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.find('=') == a.size() - 1) {
      const std::string bare = a.substr(0, a.size() - 1);
      if (const Declared* named = find_by_token(bare)) {
        if (named->is_flag) throw UsageError("option '" + bare + "' takes true or false, got ''");
        out.push_back(bare);
        out.push_back("");
        continue;
      }
    }
    is_value = d && !d->is_flag;
    out.push_back(a);
  }
  return out;
}

std::string ArgParser::unknown_option_message(const std::string& token) const {
  // Only long options carry "=VALUE"; "-xVALUE" is reported whole, as it was written.
  const bool is_long = token.rfind("--", 0) == 0;
  const std::string key = is_long ? token.substr(0, token.find('=')) : token;
  std::string message = "unknown option '" + key + "'";
  if (!is_long) return message;
  std::vector<std::string> long_names = {"help"};
  for (const auto& d : declared_)
    if (!d.option->get_positional()) long_names.push_back(d.name);
  if (const std::string hint = suggest_flag(key.substr(2), long_names); !hint.empty())
    message += " (did you mean --" + hint + "?)";
  return message;
}

// Whatever CLI11 could not place, in command-line order: unknown flags and surplus positionals.
void ArgParser::reject_leftovers() const {
  bool after_separator = false;
  for (const std::string& token : app_->remaining()) {
    if (token == "--" && !after_separator) {  // CLI11 keeps the "--" separator among leftovers
      after_separator = true;
      continue;
    }
    if (!after_separator && token.size() > 1 && token[0] == '-')
      throw UsageError(unknown_option_message(token));
    throw UsageError("unexpected argument '" + token + "'");
  }
}

// CLI11 would accept yes/no/on/off/1/0 and more; kiln flags take exactly true or false.
void ArgParser::reject_non_boolean_flag_values() const {
  auto check = [](const CLI::Option* o, const std::string& name) {
    for (const auto& v : o->results())
      if (v != "true" && v != "false")
        throw UsageError("option '--" + name + "' takes true or false, got '" + v + "'");
  };
  check(help_option_, "help");
  for (const auto& d : declared_)
    if (d.is_flag) check(d.option, d.name);
}

void ArgParser::parse(const std::vector<std::string>& args) {
  const std::vector<std::string> prepared = prepare_for_cli11(args);
  // CLI11 takes the arguments reversed: it pops them off the back.
  std::vector<std::string> reversed(prepared.rbegin(), prepared.rend());
  try {
    app_->parse(reversed);
  } catch (const CLI::ParseError& e) {
    reject_leftovers();  // an unknown flag earlier on the line is the real mistake
    // CLI11 only runs out of values at the end of the line, so the last argument is the option.
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) && !prepared.empty())
      if (const Declared* d = find_by_token(prepared.back()))
        throw UsageError("option '--" + d->name + "' needs a value");
    throw UsageError(e.what());
  }
  reject_leftovers();
  reject_non_boolean_flag_values();
  help_ = help_option_->count() > 0 && help_option_->results().back() == "true";
  if (help_) return;
  for (const auto& d : declared_)
    if (d.required && d.option->count() == 0) throw UsageError("missing argument " + d.name);
}

std::string ArgParser::help_text() const {
  std::ostringstream os;
  os << "usage: kiln " << command_ << " " << usage_ << "\n";
  for (const auto& d : declared_)
    if (d.option->get_positional())
      os << "  " << d.name << "\n      " << d.option->get_description() << "\n";
  for (const auto& d : declared_) {
    const CLI::Option& o = *d.option;
    if (o.get_positional()) continue;
    os << "  --" << d.name;
    if (!o.get_snames().empty()) os << ", -" << o.get_snames().front();
    if (!d.is_flag) os << " VALUE";
    os << "\n      " << o.get_description();
    if (!d.is_flag && d.has_default) os << " (default: " << o.get_default_str() << ")";
    if (d.is_flag && o.get_default_str() == "true")
      os << " (on by default; --" << d.name << "=false turns it off)";
    os << "\n";
  }
  return os.str();
}

bool ArgParser::has(const std::string& name) const {
  return get_optional(name).has_value();
}

// An undeclared name is simply not given, as get_optional() treats it as absent.
bool ArgParser::given(const std::string& name) const {
  const Declared* d = find(name);
  return d && d->option->count() > 0;
}

std::optional<std::string> ArgParser::get_optional(const std::string& name) const {
  const Declared* d = find(name);
  if (!d) return std::nullopt;
  // results() keeps every occurrence; the last one wins.
  if (d->option->count() > 0) return d->option->results().back();
  if (d->has_default) return d->option->get_default_str();
  return std::nullopt;
}

std::string ArgParser::get(const std::string& name) const {
  auto v = get_optional(name);
  if (!v) throw UsageError("missing required option '--" + name + "'");
  return *v;
}

// std::from_chars, not CLI11's conversion: CLI11 reads "010" as octal and "0x10" as hex.
int64_t ArgParser::get_int(const std::string& name) const {
  const std::string v = get(name);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size())
    throw UsageError("option '--" + name + "' expects an integer, got '" + v + "'");
  return out;
}

double ArgParser::get_double(const std::string& name) const {
  const std::string v = get(name);
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  throw UsageError("option '--" + name + "' expects a number, got '" + v + "'");
}

bool ArgParser::get_flag(const std::string& name) const {
  return get(name) == "true";
}

}  // namespace kiln::cli
