// The record of a `kiln sweep`: SWEEP_DIR/sweep.json, replaced atomically after every event (a
// trial starting, reaching a rung, stopping, finishing or failing), so that a sweep killed at any
// moment (kill -9 included) restarts from it: finished and stopped trials are kept, a trial that
// was training resumes from its run directory's checkpoint, and ASHA's rungs are rebuilt from
// `reports` in their original order, so the restarted sweep makes the same decisions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace kiln::train {

struct SweepTrial {
  int64_t id = 0;
  std::string name;  // its run directory under the sweep directory: trial-000, trial-001, ...
  nlohmann::ordered_json params;
  // pending (not started), running (training towards `target`, or was when the sweep stopped),
  // waiting (at a rung, `metric` known, until the lower-id trials are decided there), promoted
  // (past a rung, waiting for a slot), stopped (by ASHA at a rung), finished, failed.
  std::string status = "pending";
  int64_t epochs = 0;            // epochs trained, from its checkpoint
  int64_t target = 0;            // the epoch its current (or next) session trains to
  std::optional<double> metric;  // the eval metric after `epochs` epochs
  std::string failure;           // why it failed (the end of its log)
};

struct SweepReport {
  int64_t rung = 0, trial = 0;
  double value = 0;
};

struct SweepState {
  // How the sweep was started (space, search, seed, trials, metric, mode, ASHA, train args): a
  // restart must give the same, or its trials would not be the ones recorded.
  nlohmann::ordered_json config;
  std::vector<SweepTrial> trials;
  std::vector<SweepReport> reports;  // ASHA rung results in arrival order
  std::string metric;                // the metric name, once known
  std::string best;                  // the best trial's name once the sweep has ended

  nlohmann::ordered_json to_json() const;
  // Errors name `origin` and the field.
  static SweepState from_json(const nlohmann::json& j, const std::string& origin);
};

std::string sweep_state_path(const std::string& sweep_dir);
void write_sweep_state(const std::string& sweep_dir, const SweepState& s);
// nullopt when the directory holds no sweep.json yet.
std::optional<SweepState> read_sweep_state(const std::string& sweep_dir);

}  // namespace kiln::train
