// Live logging of a training run to MLflow (`kiln train --mlflow-uri URI`), offline first: the run
// directory stays the record, and MLflow gets a copy when it can be reached. Records are queued
// and sent by a thread of their own, so a slow or absent server never stops or slows training; on
// the first failure the logger says so once, stops trying, and the run can be pushed later with
// `kiln runs push RUN_DIR --mlflow-uri URI`. A resumed run with the same URI logs into the same
// MLflow run (RUN_DIR/mlflow.json, train/mlflow_run.h).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace kiln::train {

class MlflowLive {
 public:
  // Starts connecting in the background; `warn` gets the one-line warnings (from that thread).
  MlflowLive(std::string uri, std::string experiment, std::string run_dir, nlohmann::json manifest,
             std::function<void(const std::string&)> warn);
  ~MlflowLive();  // finish("KILLED") if finish was not called
  MlflowLive(const MlflowLive&) = delete;
  MlflowLive& operator=(const MlflowLive&) = delete;

  // Queues a metrics.jsonl record; never blocks on the network.
  void log(const nlohmann::json& record);
  // Queues the final status (FINISHED, KILLED, FAILED) and, when `model` is a file, its upload as
  // the artifact model/best.kiln; then waits for the queue to be sent (each request bounded by
  // the client's timeouts) and returns whether everything reached the server.
  bool finish(const std::string& status, const std::string& model = "");

 private:
  void work();

  std::string uri_, experiment_, run_dir_;
  nlohmann::json manifest_;
  std::function<void(const std::string&)> warn_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<nlohmann::json> queue_;
  bool finishing_ = false, failed_ = false, done_ = false;
  std::string status_, model_;
  std::thread worker_;
};

}  // namespace kiln::train
