// The model benchmarks' command lines: "--name value" options and "--name" switches bound to
// variables, parsed in one place so that every bench refuses an unknown flag or a missing value
// the same way (a message on stderr and exit status 2).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::bench {

class Flags {
 public:
  Flags& option(const char* name, std::string* value) { return add(name, value); }
  Flags& option(const char* name, int64_t* value) { return add(name, value); }
  Flags& option(const char* name, int* value) { return add(name, value); }
  Flags& option(const char* name, double* value) { return add(name, value); }
  // A switch takes no value: its presence stores `when_given`.
  Flags& flag(const char* name, bool* value, bool when_given = true) {
    switches_.push_back({name, value, when_given});
    return *this;
  }

  // Exits with status 2 on an unknown argument or an option without its value.
  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (set_switch(a)) continue;
      const Target* target = find(a);
      if (!target) fail("unknown argument " + a);
      if (i + 1 >= argc) fail("missing value for " + a);
      store(*target, argv[++i]);
    }
  }

 private:
  using Target = std::pair<std::string, std::variant<std::string*, int64_t*, int*, double*>>;
  struct Switch {
    std::string name;
    bool* value;
    bool when_given;
  };

  template <typename T>
  Flags& add(const char* name, T* value) {
    options_.push_back({name, value});
    return *this;
  }
  bool set_switch(const std::string& a) const {
    for (const auto& s : switches_)
      if (s.name == a) {
        *s.value = s.when_given;
        return true;
      }
    return false;
  }
  const Target* find(const std::string& a) const {
    for (const auto& o : options_)
      if (o.first == a) return &o;
    return nullptr;
  }
  static void store(const Target& target, const char* text) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>)
            *v = text;
          else if constexpr (std::is_same_v<T, double>)
            *v = std::atof(text);
          else
            *v = static_cast<T>(std::atoll(text));
        },
        target.second);
  }
  [[noreturn]] static void fail(const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::exit(2);
  }

  std::vector<Target> options_;
  std::vector<Switch> switches_;
};

}  // namespace kiln::bench
