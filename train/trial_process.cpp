#include "train/trial_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace kiln::train {
namespace {

int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const std::string& log_path) {
  KILN_CHECK(!argv.empty(), "spawn_process: no program");
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  KILN_CHECK(log >= 0, log_path, ": cannot open for appending: ", std::strerror(errno));
  // Everything the child needs is made before fork: between fork and exec only async-signal-safe
  // calls are allowed (the parent may have other threads).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(log);
    throw Error(std::string("cannot start a trial process: fork failed: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(143);  // the parent died before prctl took effect
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::execv(args[0], args.data());
    const char* msg = "kiln sweep: cannot execute the trial: ";
    [[maybe_unused]] auto r1 = ::write(STDERR_FILENO, msg, std::strlen(msg));
    const char* why = std::strerror(errno);
    [[maybe_unused]] auto r2 = ::write(STDERR_FILENO, why, std::strlen(why));
    [[maybe_unused]] auto r3 = ::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

std::optional<ProcessExit> poll_children() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return std::nullopt;
  return ProcessExit{pid, exit_code(status)};
}

ProcessExit wait_child(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  KILN_CHECK(r == pid, "waiting for trial process ", pid, ": ", std::strerror(errno));
  return {pid, exit_code(status)};
}

}  // namespace kiln::train
