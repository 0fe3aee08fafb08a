// Where `kiln sweep` runs its trials' sessions (one `kiln train` process each). The scheduler
// (train/sweep_runner.h) decides what runs and in which order; a launcher only starts sessions,
// says which have ended, and stops them all on request. Local: child processes of this process.
// Under mpirun (train/sweep_mpi.h): child processes of every rank, started on rank 0's orders.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::train {

struct SessionEnd {
  int64_t handle = 0;
  int status = 0;  // the exit code, or 128 + the signal that ended it (as a shell reports)
};

class TrialLauncher {
 public:
  virtual ~TrialLauncher() = default;
  // How many sessions may run at once.
  virtual int64_t slots() const = 0;
  // Starts `argv` (argv[0] is the kiln binary) with its stdout and stderr appended to `log_path`;
  // returns a handle, unique among the sessions running.
  virtual int64_t start(const std::vector<std::string>& argv, const std::string& log_path) = 0;
  // A session that has ended, without waiting; nullopt when none has.
  virtual std::optional<SessionEnd> poll() = 0;
  // Asks every running session to stop (SIGTERM: kiln train writes a checkpoint and exits) and
  // waits until all have ended.
  virtual void stop_all() = 0;
  // Where a session runs, for the user's messages: "" here, " on rank R" under mpirun.
  virtual std::string where(int64_t handle) const = 0;
};

// Up to `parallel` sessions as child processes of this process (train/trial_process.h).
std::unique_ptr<TrialLauncher> make_local_launcher(int64_t parallel);

}  // namespace kiln::train
