// The files of a training run directory:
//   manifest.json      how the run was made (command line, options, config, data hashes, machine)
//   metrics.jsonl      one JSON object per logged step or evaluation, appended and flushed
//   plot.svg           training loss and the eval metric, redrawn from metrics.jsonl
//   best.kiln          the best model so far (written by the caller with nn::write_model_file)
//   checkpoint/checkpoint.safetensors  weights, AdamW moments and the TrainState, in one file so
//                      a checkpoint is replaced atomically as a whole
// Every whole-file write goes through io::atomic_write_file (temp file + rename).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"
#include "train/optimizer.h"

namespace kiln::train {

void write_json_file(const std::string& path, const nlohmann::json& j);
nlohmann::json read_json_file(const std::string& path);

// Appends one compact JSON line per record and flushes it, so a crash loses at most the line
// being written.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void append(const nlohmann::json& record);

 private:
  std::string path_;
  std::FILE* f_;
};

// Reads metrics.jsonl records (skipping a torn last line) and draws a two-panel SVG: training loss
// by step, and `metric` of each evaluation by epoch.
std::string render_plot(const std::string& metrics_path, const std::string& metric);

struct Checkpoint {
  nlohmann::json state;   // TrainState::to_json()
  nlohmann::json config;  // the model's config.json, with labels
  std::string tokenizer_json;
  nn::StateDict weights;  // owned copies, safe to train in place
  int64_t optimizer_step = 0;
  nn::StateDict adam_m, adam_v;  // by parameter name; absent for parameters never updated
};

// `params` names the optimizer's parameters so moments are stored by name.
void write_checkpoint(const std::string& run_dir, const nn::StateDict& weights, const AdamW& opt,
                      const nlohmann::json& state, const nlohmann::json& config,
                      const std::string& tokenizer_json);
Checkpoint read_checkpoint(const std::string& run_dir);
// The checkpoint's moments in the order of `params` (the optimizer's parameter list).
AdamW::State optimizer_state(const Checkpoint& c, const NamedParams& params);
std::string checkpoint_path(const std::string& run_dir);

}  // namespace kiln::train
