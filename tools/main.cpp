// kiln: one binary, many sub-commands (see tools/command.h for how they register).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "core/version.h"
#include "tools/command.h"
#include "tools/output.h"

namespace kiln::cli {
std::vector<Command>& command_table() {
  static std::vector<Command> table;
  return table;
}
}  // namespace kiln::cli

namespace {
void print_help() {
  auto cmds = kiln::cli::command_table();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::cout << "kiln " << kiln::kVersion
            << ": train and run transformer models on the CPU\n\n"
               "usage: kiln <command> [options]   (kiln <command> --help for its options)\n\n";
  for (const auto& c : cmds) std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
}

// `rc`, unless what was written to standard output did not all get there: then 1, with a message.
int checked_exit(const std::string& who, int rc) {
  try {
    kiln::cli::flush_stdout_or_throw();
  } catch (const std::exception& e) {
    std::cerr << who << ": error: " << e.what() << "\n";
    return 1;
  }
  return rc;
}
}  // namespace

int main(int argc, char** argv) {
  kiln::cli::install_checked_stdout();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_help();
    return checked_exit("kiln", argc < 2 ? 2 : 0);
  }
  const std::string name = argv[1];
  if (name == "--version" || name == "version") {
    std::cout << "kiln " << kiln::kVersion << "\n";
    return checked_exit("kiln", 0);
  }
  for (const auto& c : kiln::cli::command_table()) {
    if (c.name != name) continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
      const int rc = c.run(args);
      // Output still buffered (or an earlier failed write) must not end in a silent exit 0.
      kiln::cli::flush_stdout_or_throw();
      return rc;
    } catch (const kiln::cli::UsageError& e) {
      std::cerr << "kiln " << name << ": " << e.what() << "\n(see 'kiln " << name << " --help')\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "kiln " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "kiln: unknown command '" << name << "' (see 'kiln --help')\n";
  return 2;
}
