// The scheduler of `kiln sweep`: keeps up to `parallel` trials training as separate `kiln train`
// processes (train/trial_launcher.h: here, or on MPI ranks), each an ordinary run directory
// SWEEP_DIR/trial-NNN with its output in SWEEP_DIR/trial-NNN.log. Under ASHA (train/asha.h) a
// trial trains to its next rung with --stop-after-epochs (its --epochs stays the full budget, so
// the learning-rate schedule is the one a full run has), exits, and is continued with --resume
// only if promoted. Every event is saved to SWEEP_DIR/sweep.json (train/sweep_state.h) before the
// next one, so a killed sweep restarts where it was.
//
// Decisions do not depend on which session ends first: a trial's result at a rung is decided
// against the trials with lower ids only, once each of those has reported at that rung or ended
// before it (until then the trial is "waiting"). One trial at a time, that is the order in which
// results arrive anyway; P trials at once, or on N MPI ranks, make the very same decisions, so
// every --parallel and every rank count gives the same trials, metrics and table.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "train/asha.h"
#include "train/sweep_state.h"
#include "train/trial_launcher.h"

namespace kiln::train {

struct SweepSetup {
  std::string dir;                      // the sweep directory (exists)
  std::string exe;                      // the kiln binary the trials run
  std::vector<std::string> train_args;  // kiln train's arguments shared by every trial
  int64_t parallel = 1;                 // trials at once, without a launcher
  TrialLauncher* launcher = nullptr;    // where sessions run; nullptr: `parallel` child processes
  int64_t max_epochs = 1;               // every trial's --epochs
  std::optional<AshaConfig> asha;       // none: every trial trains all its epochs
  std::string metric;                   // the eval field compared; "" = each run's selection metric
  bool maximize = true;
  std::function<bool()> stop_requested;             // polled; true ends the sweep resumably
  std::function<void(const std::string&)> message;  // one line per event, for the user
};

// Runs the trials of `state` that have not ended. Returns true when every trial has ended, false
// when stop_requested() stopped the sweep first: the running trials are sent SIGTERM (kiln train
// checkpoints), waited for, and left "running" in the saved state, to resume on the next start.
bool run_sweep(const SweepSetup& setup, SweepState& state);

// The index of the trial with the best metric (ties: the lower id); nullopt if none has one.
std::optional<size_t> best_trial(const SweepState& state, bool maximize);

}  // namespace kiln::train
