// The system figures metrics.jsonl records beside each logged step, as W&B and MLflow's system
// metrics do: how much memory the process holds and how busy it keeps the CPU.
//   rss_mb       resident set size now (MiB, /proc/self/statm)
//   peak_rss_mb  the most it has held since it started (MiB, getrusage ru_maxrss; the kernel
//                updates it lazily, so it may trail rss_mb by a page table's worth)
//   cpu_percent  process CPU time (user + system, all threads) over wall time since the previous
//                sample, in percent of ONE core, as top(1) shows it: 4 threads kept busy read
//                about 400. Divide by the manifest's "threads" for the share of the cores used.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

namespace kiln::train {

class SystemSampler {
 public:
  SystemSampler();  // the first interval starts now
  // {"rss_mb", "peak_rss_mb", "cpu_percent"} over the interval since the last sample() or
  // restart(); starts the next interval.
  nlohmann::json sample();
  // Starts a new interval without reporting (e.g. after an evaluation, which a step's figures
  // should not include).
  void restart();

 private:
  std::chrono::steady_clock::time_point wall_start_;
  double cpu_start_s_ = 0;
};

// Resident set size of this process in MiB (0 where /proc is unavailable).
double resident_mb();

}  // namespace kiln::train
