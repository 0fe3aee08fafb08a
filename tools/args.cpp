#include "tools/args.h"

#include <charconv>
#include <sstream>

#include "tools/command.h"

namespace kiln::cli {

ArgParser::ArgParser(std::string command, std::string usage_line)
    : command_(std::move(command)), usage_(std::move(usage_line)) {}

ArgParser& ArgParser::option(const std::string& name, const std::string& help,
                             const std::string& short_alias, std::optional<std::string> def) {
  specs_.push_back({name, help, short_alias, false, std::move(def)});
  return *this;
}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help, bool def) {
  specs_.push_back({name, help, "", true, def ? "true" : "false"});
  return *this;
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& help, bool required) {
  positionals_.push_back({name, help, required});
  return *this;
}

const ArgParser::Spec* ArgParser::find(const std::string& token) const {
  for (const auto& s : specs_) {
    if (token == "--" + s.name || (!s.short_alias.empty() && token == s.short_alias)) return &s;
  }
  return nullptr;
}

void ArgParser::parse(const std::vector<std::string>& args) {
  size_t next_positional = 0;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!only_positional && a == "--") {
      only_positional = true;
      continue;
    }
    if (!only_positional && (a == "--help" || a == "-h")) {
      help_ = true;
      continue;
    }
    if (!only_positional && a.size() > 1 && a[0] == '-' && a != "-") {
      std::string key = a, value;
      bool has_value = false;
      if (const auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
        key = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_value = true;
      }
      const Spec* s = find(key);
      if (!s) throw UsageError("unknown option '" + key + "'");
      if (s->is_flag) {
        if (has_value && value != "true" && value != "false")
          throw UsageError("option '--" + s->name + "' takes true or false, got '" + value + "'");
        values_[s->name] = has_value ? value : "true";
      } else {
        if (!has_value) {
          if (i + 1 >= args.size()) throw UsageError("option '--" + s->name + "' needs a value");
          value = args[++i];
        }
        values_[s->name] = value;
      }
      continue;
    }
    if (next_positional >= positionals_.size()) throw UsageError("unexpected argument '" + a + "'");
    values_[positionals_[next_positional++].name] = a;
  }
  if (help_) return;
  for (size_t p = next_positional; p < positionals_.size(); ++p) {
    if (positionals_[p].required) throw UsageError("missing argument " + positionals_[p].name);
  }
}

std::string ArgParser::help_text() const {
  std::ostringstream os;
  os << "usage: kiln " << command_ << " " << usage_ << "\n";
  for (const auto& p : positionals_) os << "  " << p.name << "\n      " << p.help << "\n";
  for (const auto& s : specs_) {
    os << "  --" << s.name;
    if (!s.short_alias.empty()) os << ", " << s.short_alias;
    if (!s.is_flag) os << " VALUE";
    os << "\n      " << s.help;
    if (!s.is_flag && s.default_value) os << " (default: " << *s.default_value << ")";
    if (s.is_flag && s.default_value && *s.default_value == "true")
      os << " (on by default; --" << s.name << "=false turns it off)";
    os << "\n";
  }
  return os.str();
}

bool ArgParser::has(const std::string& name) const {
  return get_optional(name).has_value();
}

std::optional<std::string> ArgParser::get_optional(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  for (const auto& s : specs_)
    if (s.name == name) return s.default_value;
  return std::nullopt;
}

std::string ArgParser::get(const std::string& name) const {
  auto v = get_optional(name);
  if (!v) throw UsageError("missing required option '--" + name + "'");
  return *v;
}

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
