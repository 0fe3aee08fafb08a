// What `kiln runs` knows about a run directory (train/run_dir.h), read from its files alone, so
// that runs made by any kiln version, finished or not, can be listed, compared and reported.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::train {

struct RunSummary {
  std::string dir;   // as given
  std::string name;  // the directory's last component
  nlohmann::json manifest;
  std::vector<nlohmann::json> records;  // metrics.jsonl, a torn last line skipped
  // running: a process holds train.lock now; failed: the last session ended in an error (FAILED,
  // whose text is in `failure`); finished: the checkpoint says training is done; stopped: ended
  // early (Ctrl-C, --stop-after-*, a kill) and resumable with --resume.
  std::string status;
  std::string failure;
  std::string metric;  // the eval metric the run selects on; empty without --eval
  double best_metric = 0;
  int64_t best_epoch = -1;  // -1: no evaluation yet
  double wall_s = 0;        // training seconds summed over sessions (see elapsed_s)
  int64_t steps = 0;        // the last logged update

  // A manifest option as text ("" when the run did not record it).
  std::string option(const std::string& name) const;
  // The starting model: --model's file name, or "config:<model_type>" for a random init.
  std::string model() const;
};

bool is_run_dir(const std::string& dir);
// Throws kiln::Error naming the directory if it holds no manifest.json.
RunSummary read_run(const std::string& dir);
// `dir` itself when it is a run, else the runs directly under it, sorted by name.
std::vector<std::string> find_runs(const std::string& dir);

// Numeric per-epoch values of an eval field ("f1", "loss"): x = epoch, y = value.
struct Curve {
  std::vector<double> x, y;
};
Curve eval_curve(const RunSummary& run, const std::string& field);
// A step record's numeric field (loss, lr, grad_norm, tokens_per_s, rss_mb, cpu_percent) by step.
Curve step_curve(const RunSummary& run, const std::string& field);

// "1h02m", "3m07s", "12.3s".
std::string format_duration(double seconds);

}  // namespace kiln::train
