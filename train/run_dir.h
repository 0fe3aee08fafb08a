// The files of a training run directory:
//   manifest.json      how the run was made (command line, options, config, data hashes, machine)
//   metrics.jsonl      one JSON object per logged step or evaluation, appended and flushed; a
//                      step's has loss, lr, grad_norm, tokens_per_s and, from `kiln train`, the
//                      system figures of train/system_stats.h; every record has elapsed_s
//                      (training seconds since the run began, summed over sessions) and, from
//                      `kiln train`, time (wall clock, unix seconds: MLflow's timestamps)
//   mlflow.json        where --mlflow-uri / kiln runs push sent the run (train/mlflow_run.h)
//   plot.svg           training loss and the eval metric, redrawn from metrics.jsonl
//   best.kiln          the best model so far (written by the caller with nn::write_model_file)
//   checkpoint/checkpoint.safetensors  weights, the optimizer's state and the TrainState, in one
//                      file so a checkpoint is replaced atomically as a whole. Tensor keys:
//                      "model.<parameter>" and "optimizer.<slot>.<parameter>" (e.g.
//                      optimizer.exp_avg.bert.pooler.dense.weight); metadata: kiln.train_state,
//                      kiln.config, kiln.tokenizer, and kiln.optimizer = {"kind", "scalars"}.
//                      Checkpoints of the earlier layout (adam_m./adam_v. keys and
//                      kiln.optimizer_step) are still read, as AdamW state. kiln.data_sha256
//                      (nn/state_dict_io.h) is checked on read; checkpoints written before it
//                      was recorded are read unchecked.
//   train.lock         held (flock) by the process training the run; see train/run_lock.h
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
  // By parameter name, with origin = the file; give it to Optimizer::load_state_dict, which
  // rejects another kind of optimizer, unknown parameters and other shapes.
  OptimizerState optimizer;
};

// Stores `opt`'s state by parameter name (any kind of optimizer).
void write_checkpoint(const std::string& run_dir, const nn::StateDict& weights,
                      const Optimizer& opt, const nlohmann::json& state,
                      const nlohmann::json& config, const std::string& tokenizer_json);
// With `verify`, the tensor data must match the checkpoint's kiln.data_sha256 (an error naming
// the file otherwise); --no-verify skips the hash.
Checkpoint read_checkpoint(const std::string& run_dir, bool verify = true);
std::string checkpoint_path(const std::string& run_dir);

}  // namespace kiln::train
