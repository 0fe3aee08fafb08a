// Standard output is checked like any file: a command whose output cannot be written (a full disk,
// `> /dev/full`, a closed descriptor) must fail, not exit 0 with the output silently lost.
#pragma once

namespace kiln::cli {

// Makes std::cout write through to C's stdout (in order with printf, as the default does) while
// remembering why the first failed write failed: the stream itself keeps only a flag, and errno is
// long overwritten by the time anyone looks. main() calls it before running a command.
void install_checked_stdout();

// Flushes std::cout and stdout and throws kiln::Error("writing standard output: <reason>") if any
// write to either has failed since the process started. Streaming commands call it after each
// batch, so they stop at the first failed write; main() calls it after every command returns.
void flush_stdout_or_throw();

}  // namespace kiln::cli
