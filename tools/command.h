// The kiln CLI is a table of sub-commands. Each lives in its own tools/cmd_<name>.cpp and adds
// itself with KILN_COMMAND; main.cpp dispatches on argv[1]. A command returns the process exit
// code; it may throw kiln::Error for user-facing failures (printed as "kiln <cmd>: <message>", exit
// 1) or kiln::UsageError for bad flags (printed with the command's usage, exit 2).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace kiln::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

struct Command {
  std::string name;
  std::string summary;                                           // one line for `kiln --help`
  std::function<int(const std::vector<std::string>& args)> run;  // args exclude "kiln <name>"
};

std::vector<Command>& command_table();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary,
                   std::function<int(const std::vector<std::string>&)> run) {
    command_table().push_back({std::move(name), std::move(summary), std::move(run)});
  }
};

}  // namespace kiln::cli

#define KILN_CMD_CONCAT2(a, b) a##b
#define KILN_CMD_CONCAT(a, b) KILN_CMD_CONCAT2(a, b)
#define KILN_COMMAND(name, summary, fn) \
  static ::kiln::cli::CommandRegistrar KILN_CMD_CONCAT(kiln_cmd_reg_, __LINE__)(name, summary, fn)
