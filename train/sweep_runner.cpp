#include "train/sweep_runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/io/safetensors_reader.h"
#include "train/run_dir.h"
#include "train/run_lock.h"
#include "train/run_summary.h"
#include "train/sweep_space.h"
#include "train/trial_launcher.h"

namespace kiln::train {
namespace fs = std::filesystem;

namespace {

struct CheckpointState {
  int64_t epochs = 0;
  bool finished = false;
};

// Epochs done and whether training ended, from the checkpoint's metadata alone (no tensor is
// read); nullopt when the run has no checkpoint yet.
std::optional<CheckpointState> checkpoint_state(const std::string& run) {
  if (!fs::exists(checkpoint_path(run))) return std::nullopt;
  const auto file = io::SafetensorsFile::open(checkpoint_path(run));
  const auto it = file.metadata().find("kiln.train_state");
  KILN_CHECK(it != file.metadata().end(), checkpoint_path(run), ": no kiln.train_state");
  const auto j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  KILN_CHECK(j.is_object(), checkpoint_path(run), ": kiln.train_state is not JSON");
  return CheckpointState{j.value("epoch", int64_t{0}), j.value("finished", false)};
}

// A trial killed with the sweep gets SIGTERM and is still writing its checkpoint when the sweep
// restarts: wait (bounded) for it to let go of the run.
void wait_until_unlocked(const std::string& run) {
  if (!fs::exists(run)) return;
  for (int i = 0;; ++i) {
    try {
      RunLock::check_not_held(run);
      return;
    } catch (const Error&) {
      if (i >= 1200) throw;  // 2 minutes
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

// The last non-empty line of a trial's log: kiln train's error message when it failed.
std::string last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

class Scheduler {
 public:
  Scheduler(const SweepSetup& setup, SweepState& state) : s_(setup), state_(state) {
    if (s_.launcher) {
      launcher_ = s_.launcher;
    } else {
      own_launcher_ = make_local_launcher(s_.parallel);
      launcher_ = own_launcher_.get();
    }
    if (s_.asha) {
      rungs_.emplace(*s_.asha);
      for (const auto& r : state_.reports) rungs_->report(r.rung, r.value);
    }
  }

  bool run() {
    decide_waiting();  // a sweep stopped with results waiting for a decision
    while (true) {
      if (stopping()) return stop_all();
      while (static_cast<int64_t>(running_.size()) < launcher_->slots()) {
        const auto next = next_trial();
        if (!next) break;
        launch(*next);
      }
      if (running_.empty()) {
        // decide_waiting() has decided every waiting trial once nothing runs (see there).
        for (const auto& t : state_.trials)
          KILN_CHECK(t.status != "waiting", "kiln sweep: ", t.name, " is still waiting");
        return true;
      }
      if (const auto end = launcher_->poll()) {
        const auto it = running_.find(end->handle);
        KILN_CHECK(it != running_.end(), "kiln sweep: an unknown session ", end->handle, " ended");
        const size_t index = it->second;
        running_.erase(it);
        conclude(index, end->status);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

 private:
  bool stopping() const { return s_.stop_requested && s_.stop_requested(); }
  std::string run_dir(const SweepTrial& t) const { return s_.dir + "/" + t.name; }
  std::string log_path(const SweepTrial& t) const { return s_.dir + "/" + t.name + ".log"; }
  void save() { write_sweep_state(s_.dir, state_); }
  void say(const std::string& line) {
    if (s_.message) s_.message(line);
  }

  bool in_flight(size_t index) const {
    for (const auto& [handle, i] : running_)
      if (i == index) return true;
    return false;
  }

  // Trials that were training when the sweep last stopped first, then promoted ones (ASHA lets a
  // promoted trial go on before new ones start), then new ones, each in id order.
  std::optional<size_t> next_trial() const {
    for (const char* status : {"running", "promoted", "pending"})
      for (size_t i = 0; i < state_.trials.size(); ++i)
        if (state_.trials[i].status == status && !in_flight(i)) return i;
    return std::nullopt;
  }

  std::vector<std::string> fresh_command(const SweepTrial& t) const {
    std::vector<std::string> argv = {s_.exe, "train"};
    argv.insert(argv.end(), s_.train_args.begin(), s_.train_args.end());
    for (const auto& [name, value] : t.params.items())
      argv.push_back("--" + name + "=" + param_text(value));
    argv.push_back("--output=" + run_dir(t));
    if (t.target < s_.max_epochs) argv.push_back("--stop-after-epochs=" + std::to_string(t.target));
    return argv;
  }

  void launch(size_t index) {
    SweepTrial& t = state_.trials[index];
    if (t.status == "pending") t.target = s_.asha ? asha_next_target(*s_.asha, 0) : s_.max_epochs;
    const std::string run = run_dir(t);
    wait_until_unlocked(run);
    std::vector<std::string> argv;
    if (const auto ckpt = checkpoint_state(run)) {
      if (ckpt->finished || ckpt->epochs >= t.target) {
        conclude(index, 0);  // it got there before the sweep last stopped
        return;
      }
      argv = {s_.exe, "train", "--resume", run};
      if (t.target < s_.max_epochs)
        argv.push_back("--stop-after-epochs=" + std::to_string(t.target - ckpt->epochs));
    } else {
      // Nothing durable yet (stopped before its first checkpoint): start it again from scratch.
      std::error_code ec;
      fs::remove_all(run, ec);
      KILN_CHECK(!ec, run, ": cannot remove the unfinished trial: ", ec.message());
      argv = fresh_command(t);
    }
    t.status = "running";
    save();
    {
      // The log says what each session ran (a resumed trial's says --resume).
      std::ofstream log(log_path(t), std::ios::app);
      log << "kiln sweep: running";
      for (const auto& a : argv) log << " " << a;
      log << "\n";
    }
    const int64_t handle = launcher_->start(argv, log_path(t));
    running_[handle] = index;
    say(t.name + ": training to epoch " + std::to_string(t.target) + launcher_->where(handle) +
        " " + t.params.dump());
  }

  void fail(SweepTrial& t, const std::string& why) {
    t.status = "failed";
    t.failure = why;
    save();
    say(t.name + ": failed: " + why + " (log: " + log_path(t) + ")");
  }

  void conclude(size_t index, int status) {
    SweepTrial& t = state_.trials[index];
    if (stopping() && (status == 130 || status == 143)) return;  // checkpointed; resumes later
    if (status != 0)
      return fail(t, "exit status " + std::to_string(status) + ": " + last_line(log_path(t)));
    const std::string run = run_dir(t);
    std::optional<CheckpointState> ckpt;
    RunSummary summary;
    try {
      ckpt = checkpoint_state(run);
      summary = read_run(run);
    } catch (const Error& e) {
      return fail(t, e.what());
    }
    if (!ckpt) return fail(t, "ended without a checkpoint");
    if (state_.metric.empty()) state_.metric = s_.metric.empty() ? summary.metric : s_.metric;
    const Curve curve = eval_curve(summary, state_.metric);
    std::optional<double> value;
    for (size_t i = 0; i < curve.x.size(); ++i)
      if (curve.x[i] == static_cast<double>(ckpt->epochs)) value = curve.y[i];
    if (!value)
      return fail(t, "no eval '" + state_.metric + "' for epoch " + std::to_string(ckpt->epochs) +
                         " in " + run + "/metrics.jsonl");
    if (!std::isfinite(*value)) return fail(t, "the eval " + state_.metric + " is not finite");
    t.epochs = ckpt->epochs;
    t.metric = *value;
    const std::string result =
        state_.metric + " " + param_text(*value) + " after " + std::to_string(t.epochs) + " epochs";
    if (ckpt->finished || t.epochs >= s_.max_epochs) {
      t.status = "finished";
      save();
      return say(t.name + ": finished, " + result);
    }
    if (!rungs_ || t.epochs < t.target)
      return fail(t, "kiln train ended at epoch " + std::to_string(t.epochs) + " before epoch " +
                         std::to_string(t.target));
    t.status = "waiting";
    save();
    decide_waiting();
    if (t.status == "waiting") say(t.name + ": " + result + ", waiting for the trials before it");
  }

  // Decides each waiting trial whose lower-id trials have all settled at its rung (reported
  // there, or ended before it), so that the rung holds exactly those trials' results when it is
  // decided: the decisions of one trial at a time, whichever session ended first. One pass in id
  // order suffices, as a decision changes only what later trials wait for. Nothing waits forever:
  // once no session runs, every unsettled trial below the first waiting one is runnable.
  void decide_waiting() {
    std::set<std::pair<int64_t, int64_t>> reported;  // (trial, rung)
    for (const auto& r : state_.reports) reported.insert({r.trial, r.rung});
    // For each rung: whether every trial before the current one has settled there.
    std::map<int64_t, bool> settled_before;
    for (const auto& t : state_.trials)
      if (t.status == "waiting") settled_before[t.epochs] = true;
    if (settled_before.empty()) return;
    for (size_t i = 0; i < state_.trials.size(); ++i) {
      const SweepTrial& t = state_.trials[i];
      if (t.status == "waiting" && settled_before.at(t.epochs)) {
        decide(i);
        reported.insert({t.id, t.epochs});
      }
      const bool ended = t.status == "stopped" || t.status == "failed" || t.status == "finished";
      for (auto& [rung, settled] : settled_before)
        settled = settled && (ended || reported.count({t.id, rung}) > 0);
    }
  }

  void decide(size_t index) {
    SweepTrial& t = state_.trials[index];
    KILN_CHECK(t.metric.has_value(), "kiln sweep: ", t.name, " waits at a rung without a metric");
    const bool promoted = rungs_->report(t.epochs, *t.metric);
    state_.reports.push_back({t.epochs, t.id, *t.metric});
    if (promoted) {
      t.status = "promoted";
      t.target = asha_next_target(*s_.asha, t.epochs);
    } else {
      t.status = "stopped";
    }
    save();
    say(t.name + ": " + state_.metric + " " + param_text(*t.metric) + " at epoch " +
        std::to_string(t.epochs) +
        (promoted
             ? ", promoted to epoch " + std::to_string(t.target)
             : ", stopped (not in the top 1/" + std::to_string(s_.asha->eta) + " at this rung)"));
  }

  bool stop_all() {
    launcher_->stop_all();
    running_.clear();
    save();
    return false;
  }

  const SweepSetup& s_;
  SweepState& state_;
  std::unique_ptr<TrialLauncher> own_launcher_;
  TrialLauncher* launcher_ = nullptr;
  std::optional<AshaRungs> rungs_;
  std::map<int64_t, size_t> running_;  // session handle -> trial index
};

}  // namespace

bool run_sweep(const SweepSetup& setup, SweepState& state) {
  return Scheduler(setup, state).run();
}

std::optional<size_t> best_trial(const SweepState& state, bool maximize) {
  std::optional<size_t> best;
  for (size_t i = 0; i < state.trials.size(); ++i) {
    const auto& m = state.trials[i].metric;
    if (!m) continue;
    const auto& b = best ? state.trials[*best].metric : std::nullopt;
    if (!b || (maximize ? *m > *b : *m < *b)) best = i;
  }
  return best;
}

}  // namespace kiln::train
