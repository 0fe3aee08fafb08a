// Child processes for `kiln sweep`: each trial is a separate `kiln train` (the same binary, run
// through /proc/self/exe), with its stdout and stderr appended to a log file. A child is asked to
// stop (SIGTERM: kiln train checkpoints and exits) when the process that started it dies, even by
// kill -9, so a killed sweep leaves no trial training on its own and holding its run's lock. A
// child runs in a process group of its own (signals to the sweep's group do not reach it) and
// never inherits an MPI launcher's variables: a trial is one process, not an MPI rank.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace kiln::train {

// Starts argv[0] with `argv`; throws kiln::Error if the log cannot be opened or fork fails. A
// failed exec shows as exit status 127 with the reason in the log.
pid_t spawn_process(const std::vector<std::string>& argv, const std::string& log_path);

// Runs `argv` to its end (also without the MPI launcher's variables) and returns its stdout and
// stderr together; throws kiln::Error if it cannot be started.
std::string run_and_capture(const std::vector<std::string>& argv);

struct ProcessExit {
  pid_t pid = 0;
  int status = 0;  // the exit code, or 128 + the signal that killed it (as a shell reports)
};

// A child that has ended, without waiting; nullopt when none has.
std::optional<ProcessExit> poll_children();
// Waits for `pid` to end.
ProcessExit wait_child(pid_t pid);

}  // namespace kiln::train
