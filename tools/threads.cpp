#include "tools/threads.h"

#include <cstdlib>
#include <string>

#include "core/io/text_escape.h"
#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/command.h"

namespace kiln::cli {

std::optional<int> parse_thread_count(std::string_view text) {
  // No sign, space or base prefix: "0x10", " 4" or "4k" are typos, not thread counts. Digits are
  // accumulated with a cap so that a huge number cannot overflow.
  if (text.empty()) return std::nullopt;
  long value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > kMaxThreads) return std::nullopt;
  }
  if (value < 1) return std::nullopt;
  return static_cast<int>(value);
}

void apply_threads_flag(const ArgParser& p) {
  const std::string range = "a whole number from 1 to " + std::to_string(kMaxThreads);
  if (p.given("threads")) {
    const std::string value = p.get("threads");
    const auto n = parse_thread_count(value);
    if (!n)
      throw UsageError("--threads must be " + range + ", got '" +
                       io::escape_for_display(value, 40) + "'");
    set_num_threads(*n);
    return;
  }
  // The pool reads KILN_NUM_THREADS itself, but falls back to all cores on a value it cannot
  // use; check it here so a typo in the environment is reported instead of ignored.
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    const auto n = parse_thread_count(env);
    if (!n)
      throw Error("environment variable KILN_NUM_THREADS must be " + range + ", got '" +
                  io::escape_for_display(env, 40) + "' (unset it to use all cores)");
    set_num_threads(*n);
    return;
  }
  set_num_threads(0);  // all cores
}

}  // namespace kiln::cli
