#include "train/trial_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"

extern char** environ;

namespace kiln::train {
namespace {

// The environment less the variables an MPI launcher gives its ranks (Open MPI's OMPI_*, PMIx's
// PMIX_*, PMI's PMI_*): under `mpirun kiln sweep` a trial inherits them from its rank, and a
// `kiln train` that sees them believes it is a rank itself (train/distributed.h) and joins the
// sweep's MPI job. A trial is always one process of its own.
std::vector<std::string> environment_without_mpi() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var = *e;
    if (var.rfind("OMPI_", 0) == 0 || var.rfind("PMIX_", 0) == 0 || var.rfind("PMI_", 0) == 0)
      continue;
    env.push_back(var);
  }
  return env;
}

int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Starts argv[0] with its stdout and stderr on the file descriptor `log` (closed here after the
// fork, or when the fork fails).
pid_t spawn_with_output(const std::vector<std::string>& argv, int log) {
  // Everything the child needs is made before fork: between fork and exec only async-signal-safe
  // calls are allowed (the parent may have other threads).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> env_strings = environment_without_mpi();
  std::vector<char*> env;
  for (const auto& v : env_strings) env.push_back(const_cast<char*>(v.c_str()));
  env.push_back(nullptr);
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
    // A process group of its own: a signal to the sweep's group (Ctrl-C in a terminal, mpirun
    // ending its ranks with SIGTERM and then SIGKILL) reaches the trial only as the sweep's one
    // SIGTERM, or PDEATHSIG's; a second signal would end kiln train before its checkpoint.
    ::setpgid(0, 0);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::execve(args[0], args.data(), env.data());
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

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const std::string& log_path) {
  KILN_CHECK(!argv.empty(), "spawn_process: no program");
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  KILN_CHECK(log >= 0, log_path, ": cannot open for appending: ", std::strerror(errno));
  return spawn_with_output(argv, log);
}

std::string run_and_capture(const std::vector<std::string>& argv) {
  KILN_CHECK(!argv.empty(), "run_and_capture: no program");
  int fds[2];
  KILN_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "cannot create a pipe: ", std::strerror(errno));
  pid_t pid;
  try {
    pid = spawn_with_output(argv, fds[1]);
  } catch (...) {
    ::close(fds[0]);
    throw;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  wait_child(pid);
  return out;
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
