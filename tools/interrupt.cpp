#include "tools/interrupt.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <utility>

namespace kiln::cli {

namespace {

volatile std::sig_atomic_t g_received = 0;
const char* g_message = nullptr;
size_t g_message_size = 0;
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  g_received = sig;
  // write(2) is async-signal-safe; iostreams are not.
  if (g_message) {
    const ssize_t n = ::write(STDERR_FILENO, g_message, g_message_size);
    (void)n;  // nothing to do about a failed write to stderr here
  }
}

}  // namespace

InterruptGuard::InterruptGuard(const char* message) {
  g_received = 0;
  g_message = message;
  g_message_size = std::strlen(message);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESETHAND: the second signal takes the default action (ends the process). SA_RESTART:
  // file writes in progress are not cut short with EINTR.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  for (auto [sig, old] : {std::pair{SIGINT, &g_old_int}, std::pair{SIGTERM, &g_old_term}}) {
    sigaction(sig, &sa, old);
    // A signal ignored on entry (nohup, a background job of a script) stays ignored.
    if (old->sa_handler == SIG_IGN) sigaction(sig, old, nullptr);
  }
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_message = nullptr;
}

int InterruptGuard::received() {
  return g_received;
}

}  // namespace kiln::cli
