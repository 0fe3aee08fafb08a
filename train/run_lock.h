// One `kiln train` per run directory at a time. Two processes training into the same directory
// would overwrite each other's checkpoints and interleave metrics.jsonl, so the process training
// a run holds an exclusive flock(2) on RUN_DIR/train.lock. The kernel drops the lock when the
// process ends in any way (exit, crash, kill -9), so a stale lock never blocks a resume, and the
// file itself is left in place: unlinking a lock file races with a process about to lock it.
// The holder writes its PID into the file so that a refused command can say who holds it.
#pragma once

#include <string>

namespace kiln::train {

std::string run_lock_path(const std::string& run_dir);

class RunLock {
 public:
  // Locks `run_dir` (which must exist). Throws kiln::Error naming the directory and the holder's
  // PID (when the file says) if another process holds it.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // Throws the same error if another process holds the lock on `run_dir` now; creates nothing
  // (for a fresh run, before the directory is known to be usable).
  static void check_not_held(const std::string& run_dir);

 private:
  int fd_ = -1;
};

}  // namespace kiln::train
