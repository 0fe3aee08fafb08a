// `mpirun -np N kiln sweep ...`: one sweep whose trials run on every rank. Rank 0 is the sweep
// (train/sweep_runner.h: the same scheduler, the only writer of the sweep directory and its
// state) and runs up to --parallel sessions itself; ranks 1..N-1 are workers that start the
// sessions rank 0 sends them (a `kiln train` command line and its log file) as child processes on
// their machine and send back how each ended. Run directories and logs are paths on a file system
// that every rank shares. A worker that dies ends the whole job (mpirun does, and MPI's default
// error handler on a failed transfer), so rank 0 never waits for it forever.
#pragma once

#include <functional>
#include <memory>

#include "train/distributed.h"
#include "train/trial_launcher.h"

namespace kiln::train {

// Rank 0's launcher: `parallel` sessions on each of the world's ranks, itself included, each new
// session going to the rank with the fewest running (the lowest such rank).
std::unique_ptr<TrialLauncher> make_mpi_launcher(Distributed& world, int64_t parallel);

// Rank 0, once its sweep has finished (or printed --help): tells every worker to end. A sweep
// stopped by a signal instead ends the job with rank 0's exit: the workers get the signal too.
void release_sweep_workers(Distributed& world);

// A worker rank (rank > 0): runs the sessions rank 0 sends until rank 0 releases it, and returns
// 0. When `stop_requested()` turns true (SIGINT, SIGTERM) it stops its sessions (each writes a
// checkpoint), waits for them and returns the signal's exit status, for the caller to end the job.
int run_sweep_worker(Distributed& world, const std::function<int()>& stop_requested);

}  // namespace kiln::train
