// One rule for the worker-thread count of every command: --threads N, else the KILN_NUM_THREADS
// environment variable, else all cores. Both must be a whole number from 1 to kMaxThreads; anything
// else is an error rather than a silent fallback to some other count.
#pragma once

#include <optional>
#include <string_view>

namespace kiln::cli {

class ArgParser;

constexpr int kMaxThreads = 1024;

// Help text for a command's --threads option (declared without a default, so given() tells
// whether the user chose a count).
inline constexpr const char* kThreadsHelp =
    "worker threads, 1 to 1024 (default: KILN_NUM_THREADS if set, else all cores)";

// The count `text` names, or nullopt unless it is plain decimal digits with a value in
// [1, kMaxThreads].
std::optional<int> parse_thread_count(std::string_view text);

// Sizes the thread pool from p's --threads, else KILN_NUM_THREADS, else all cores. A bad --threads
// is a UsageError (exit 2); a bad KILN_NUM_THREADS is a kiln::Error naming the variable.
void apply_threads_flag(const ArgParser& p);

}  // namespace kiln::cli
