// A kiln run directory (train/run_dir.h) in MLflow's terms, shared by live logging
// (train/mlflow_live.h) and `kiln runs push`, so a run logged live and one pushed later look the
// same in MLflow:
//   params   every option in the manifest (the flags the run was made with, defaults included)
//            and the resolved values (warmup_steps, total_updates, max_length, metric)
//   metrics  each step record's loss, lr, grad_norm, tokens_per_s (or images_per_s), epoch and
//            system figures (system/rss_mb, system/peak_rss_mb, system/cpu_percent), and each
//            evaluation's numbers as eval_<name> (eval_accuracy, eval_f1, eval_loss), all at the
//            run's update step; timestamps are the record's wall time
//   tags     mlflow.runName (the directory's name), mlflow.source.name, kiln.run_dir, kiln.task,
//            kiln.model, kiln.command, kiln.train_sha256 / kiln.train_md5 (and eval)
//   status   finished -> FINISHED, failed -> FAILED, stopped -> KILLED, running -> RUNNING
// RUN_DIR/mlflow.json remembers where the run went ({uri, experiment_id, run_id, complete}), so a
// resumed run keeps logging into the same MLflow run and a pushed run is not pushed twice.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "train/mlflow_client.h"
#include "train/run_summary.h"

namespace kiln::train {

MlflowPairs mlflow_params(const nlohmann::json& manifest);
MlflowPairs mlflow_tags(const nlohmann::json& manifest, const std::string& run_dir);
// The run's start in ms since the epoch (the manifest's "created"); 0 when unknown.
int64_t mlflow_start_ms(const nlohmann::json& manifest);
// One metrics.jsonl record's metrics. Its time is the record's "time" (unix seconds), else
// start_ms + elapsed_s.
std::vector<MlflowMetric> mlflow_metrics(const nlohmann::json& record, int64_t start_ms);
std::string mlflow_status(const std::string& kiln_status);

// RUN_DIR/mlflow.json.
struct MlflowLink {
  std::string uri, experiment_id, run_id, artifact_uri;
  bool complete = false;  // every record and the final status reached the server
};
std::optional<MlflowLink> read_mlflow_link(const std::string& run_dir);
void write_mlflow_link(const std::string& run_dir, const MlflowLink& link);

struct PushResult {
  std::string run_id, experiment_id;
  size_t metrics = 0;
  bool model_uploaded = false;
};
// Creates an MLflow run in `experiment` holding everything `run` recorded, and sets its status;
// uploads RUN/best.kiln as the artifact model/best.kiln when `upload_model` and it exists.
PushResult push_run(const RunSummary& run, MlflowClient& client, const std::string& experiment,
                    bool upload_model);

}  // namespace kiln::train
