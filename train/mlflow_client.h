// A small client of an MLflow tracking server's REST API (api/2.0/mlflow/...), enough to record a
// kiln run: find or create an experiment, create a run, log params, metrics (with steps and
// timestamps) and tags in batches, set its status, and upload a file as an artifact when the
// server proxies artifacts (`mlflow server` does by default). It talks to the server, never to
// its storage: MLflow's file-store layout is legacy and its database schema is its own.
// Every failure (unreachable server, an HTTP error, an answer that is not MLflow's) throws
// kiln::Error naming the URI, the endpoint and the server's message.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace httplib {
class Client;
}

namespace kiln::train {

struct MlflowMetric {
  std::string key;
  double value = 0;
  int64_t timestamp_ms = 0;
  int64_t step = 0;
};

using MlflowPairs = std::vector<std::pair<std::string, std::string>>;  // params or tags

class MlflowClient {
 public:
  // `uri`: http://host:port[/prefix]. Connection and reply timeouts in seconds.
  explicit MlflowClient(const std::string& uri, double connect_timeout_s = 3,
                        double read_timeout_s = 30);
  ~MlflowClient();
  MlflowClient(const MlflowClient&) = delete;
  MlflowClient& operator=(const MlflowClient&) = delete;

  const std::string& uri() const { return uri_; }
  // The id of the experiment named `name`, created when it does not exist.
  std::string experiment_id(const std::string& name);
  struct Run {
    std::string id, artifact_uri;
  };
  Run create_run(const std::string& experiment_id, const std::string& run_name,
                 int64_t start_time_ms, const MlflowPairs& tags);
  // Splits into batches within the server's limits (1000 metrics, 100 params, 100 tags).
  void log_batch(const std::string& run_id, const std::vector<MlflowMetric>& metrics,
                 const MlflowPairs& params = {}, const MlflowPairs& tags = {});
  // status: RUNNING, FINISHED, FAILED or KILLED; end_time_ms 0: none.
  void update_run(const std::string& run_id, const std::string& status, int64_t end_time_ms);
  // The run's status as the server has it (RUNNING, FINISHED, ...).
  std::string run_status(const std::string& run_id);
  // Uploads `path` as artifact `name` of a run whose artifact_uri is mlflow-artifacts:/...
  // (the server proxies artifacts). Throws for any other artifact store.
  void upload_artifact(const Run& run, const std::string& path, const std::string& name);

 private:
  nlohmann::json call(const std::string& method, const std::string& endpoint,
                      const nlohmann::json& body);

  std::string uri_, prefix_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace kiln::train
