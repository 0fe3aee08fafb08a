#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kiln::train {

namespace {

// The PID the holder wrote, or "" when the file holds none yet (it locks, then writes).
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos ? s : "";
}

std::string held_message(const std::string& run_dir, int fd) {
  const std::string pid = holder_pid(fd);
  return std::string(run_dir + " is being trained by another kiln train (" +
                     (pid.empty() ? std::string("process ID unknown") : "PID " + pid) +
                     ", holding " + run_lock_path(run_dir) +
                     "); wait for it to finish or stop it (Ctrl-C or kill " +
                     (pid.empty() ? std::string("PID") : pid) +
                     " checkpoints it) before resuming or training into this directory");
}

}  // namespace

std::string run_lock_path(const std::string& run_dir) {
  return run_dir + "/train.lock";
}

RunLock::RunLock(const std::string& run_dir) {
  const std::string path = run_lock_path(run_dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  KILN_CHECK(fd_ >= 0, path, ": cannot open the run's lock file (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string message = err == EWOULDBLOCK ? held_message(run_dir, fd_)
                                                   : path + ": cannot lock the run's lock file (" +
                                                         std::strerror(err) + ")";
    ::close(fd_);
    throw Error(message);
  }
  // Best effort: the PID only improves another process's message.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

void RunLock::check_not_held(const std::string& run_dir) {
  const std::string path = run_lock_path(run_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // never trained here
  // A shared lock is refused exactly while some process holds the exclusive one.
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  const std::string message = held ? held_message(run_dir, fd) : "";
  ::close(fd);  // releases the shared lock if it was taken
  if (held) throw Error(message);
}

}  // namespace kiln::train
