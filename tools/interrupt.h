// Ctrl-C and SIGTERM as a request to stop cleanly: while an InterruptGuard lives, the first
// SIGINT or SIGTERM only records itself (and says on stderr that the command is stopping), for a
// loop to poll at a safe point; the handler is then reset, so a second signal ends the process at
// once as usual. `kiln train` polls it at update boundaries to write a checkpoint before exiting.
#pragma once

namespace kiln::cli {

class InterruptGuard {
 public:
  // `message`: what the first signal prints on stderr (kept for the life of the guard).
  explicit InterruptGuard(const char* message);
  ~InterruptGuard();  // restores the previous handlers
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal received (SIGINT, SIGTERM), or 0.
  static int received();
};

// The exit status of a command stopped by `signal`, as a shell reports one killed by it.
inline int exit_status_for_signal(int signal) {
  return 128 + signal;
}

}  // namespace kiln::cli
