#include "train/mlflow_live.h"

#include <chrono>
#include <filesystem>

#include "train/mlflow_client.h"
#include "train/mlflow_run.h"

namespace kiln::train {

MlflowLive::MlflowLive(std::string uri, std::string experiment, std::string run_dir,
                       nlohmann::json manifest, std::function<void(const std::string&)> warn)
    : uri_(std::move(uri)),
      experiment_(std::move(experiment)),
      run_dir_(std::move(run_dir)),
      manifest_(std::move(manifest)),
      warn_(std::move(warn)) {
  worker_ = std::thread([this] { work(); });
}

MlflowLive::~MlflowLive() {
  bool finishing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finishing = finishing_;
  }
  if (!finishing) finish("KILLED");
}

void MlflowLive::log(const nlohmann::json& record) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_ || finishing_) return;
    queue_.push_back(record);
  }
  cv_.notify_one();
}

bool MlflowLive::finish(const std::string& status, const std::string& model) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finishing_) return !failed_;
    finishing_ = true;
    status_ = status;
    model_ = model;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
  return !failed_;
}

void MlflowLive::work() {
  const int64_t start_ms = mlflow_start_ms(manifest_);
  MlflowLink link;
  std::unique_ptr<MlflowClient> client;
  try {
    // Short timeouts: a server that is not there is found out in a few seconds.
    client = std::make_unique<MlflowClient>(uri_, 2.0, 10.0);
    const auto previous = read_mlflow_link(run_dir_);
    if (previous && previous->uri == uri_) {
      link = *previous;  // a resumed run: same MLflow run
      link.complete = false;
      client->update_run(link.run_id, "RUNNING", 0);
    } else {
      link.uri = uri_;
      link.experiment_id = client->experiment_id(experiment_);
      const auto run = client->create_run(link.experiment_id,
                                          std::filesystem::path(run_dir_).filename().string(),
                                          start_ms, mlflow_tags(manifest_, run_dir_));
      link.run_id = run.id;
      link.artifact_uri = run.artifact_uri;
      client->log_batch(link.run_id, {}, mlflow_params(manifest_));
    }
    write_mlflow_link(run_dir_, link);
    while (true) {
      std::deque<nlohmann::json> batch;
      bool finishing;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return finishing_ || !queue_.empty(); });
        batch.swap(queue_);
        finishing = finishing_;
      }
      std::vector<MlflowMetric> metrics;
      for (const auto& r : batch)
        for (auto& m : mlflow_metrics(r, start_ms)) metrics.push_back(std::move(m));
      if (!metrics.empty()) client->log_batch(link.run_id, metrics);
      if (!finishing) continue;
      std::string model;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!queue_.empty()) continue;  // records queued before finish() still go first
        model = model_;
      }
      if (!model.empty() && std::filesystem::exists(model))
        client->upload_artifact({link.run_id, link.artifact_uri}, model, "model/best.kiln");
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      client->update_run(link.run_id, status_, status_ == "RUNNING" ? 0 : now);
      link.complete = true;
      write_mlflow_link(run_dir_, link);
      return;
    }
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed_ = true;
      queue_.clear();
    }
    if (warn_)
      warn_(std::string("MLflow logging stopped: ") + e.what() + "; training goes on and " +
            run_dir_ + " keeps the record: push it later with kiln runs push " + run_dir_ +
            " --mlflow-uri " + uri_);
  }
}

}  // namespace kiln::train
