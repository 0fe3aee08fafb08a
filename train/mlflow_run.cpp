#include "train/mlflow_run.h"

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace kiln::train {
namespace fs = std::filesystem;

namespace {

// MLflow refuses longer param values (6000 characters since MLflow 2.x).
std::string param_value(const nlohmann::json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.size() > 6000) s = s.substr(0, 5980) + "...(truncated)";
  return s;
}

}  // namespace

MlflowPairs mlflow_params(const nlohmann::json& manifest) {
  MlflowPairs out;
  // value() returns a copy: held here, as items() refers into it.
  const auto options = manifest.value("options", nlohmann::json::object());
  const auto resolved = manifest.value("resolved", nlohmann::json::object());
  for (const auto& [k, v] : options.items()) out.emplace_back(k, param_value(v));
  for (const auto& [k, v] : resolved.items())
    if (v.is_primitive() && !v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
      out.emplace_back("resolved." + k, param_value(v));
  return out;
}

MlflowPairs mlflow_tags(const nlohmann::json& manifest, const std::string& run_dir) {
  const std::string abs = fs::absolute(run_dir).lexically_normal().string();
  std::string name = fs::path(abs).filename().string();
  MlflowPairs tags = {{"mlflow.runName", name},
                      {"mlflow.source.name", "kiln train"},
                      {"mlflow.source.type", "LOCAL"},
                      {"kiln.run_dir", abs}};
  const auto options = manifest.value("options", nlohmann::json::object());
  if (options.contains("task")) tags.emplace_back("kiln.task", param_value(options["task"]));
  for (const char* key : {"model", "config"})
    if (options.contains(key)) tags.emplace_back("kiln.model", param_value(options[key]));
  if (manifest.contains("command"))
    tags.emplace_back("kiln.command", param_value(manifest["command"]));
  if (manifest.contains("kiln_version"))
    tags.emplace_back("kiln.version", param_value(manifest["kiln_version"]));
  for (const char* split : {"train", "eval"}) {
    const auto d = manifest.value("data", nlohmann::json::object());
    if (!d.contains(split)) continue;
    for (const char* hash : {"sha256", "md5"})
      if (d[split].contains(hash))
        tags.emplace_back(std::string("kiln.") + split + "_" + hash, param_value(d[split][hash]));
  }
  return tags;
}

int64_t mlflow_start_ms(const nlohmann::json& manifest) {
  const std::string created = manifest.value("created", "");
  std::tm tm{};
  if (created.empty() || !strptime(created.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::vector<MlflowMetric> mlflow_metrics(const nlohmann::json& record, int64_t start_ms) {
  std::vector<MlflowMetric> out;
  if (!record.is_object()) return out;
  const int64_t step = record.value("step", int64_t{0});
  int64_t time_ms = start_ms + std::llround(record.value("elapsed_s", 0.0) * 1000.0);
  if (record.contains("time") && record["time"].is_number())
    time_ms = std::llround(record["time"].get<double>() * 1000.0);
  auto add = [&](const std::string& key, const nlohmann::json& v) {
    if (v.is_number() && std::isfinite(v.get<double>()))
      out.push_back({key, v.get<double>(), time_ms, step});
  };
  if (record.contains("eval")) {
    if (record["eval"].is_object())
      for (const auto& [k, v] : record["eval"].items()) add("eval_" + k, v);
    return out;
  }
  static const std::set<std::string> skipped = {"step", "elapsed_s", "time"};
  static const std::set<std::string> system = {"rss_mb", "peak_rss_mb", "cpu_percent"};
  for (const auto& [k, v] : record.items()) {
    if (skipped.count(k)) continue;
    add(system.count(k) ? "system/" + k : k, v);
  }
  return out;
}

std::string mlflow_status(const std::string& kiln_status) {
  if (kiln_status == "finished") return "FINISHED";
  if (kiln_status == "failed") return "FAILED";
  if (kiln_status == "running") return "RUNNING";
  return "KILLED";  // stopped: ended early, resumable
}

std::optional<MlflowLink> read_mlflow_link(const std::string& run_dir) {
  const std::string path = run_dir + "/mlflow.json";
  std::ifstream f(path);
  if (!f) return std::nullopt;
  const auto j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("run_id")) return std::nullopt;  // unreadable: start afresh
  return MlflowLink{j.value("uri", ""), j.value("experiment_id", ""), j.value("run_id", ""),
                    j.value("artifact_uri", ""), j.value("complete", false)};
}

void write_mlflow_link(const std::string& run_dir, const MlflowLink& link) {
  const nlohmann::ordered_json j = {{"uri", link.uri},
                                    {"experiment_id", link.experiment_id},
                                    {"run_id", link.run_id},
                                    {"artifact_uri", link.artifact_uri},
                                    {"complete", link.complete}};
  io::atomic_write_file(run_dir + "/mlflow.json", j.dump(2) + "\n");
}

PushResult push_run(const RunSummary& run, MlflowClient& client, const std::string& experiment,
                    bool upload_model) {
  PushResult result;
  result.experiment_id = client.experiment_id(experiment);
  const int64_t start_ms = mlflow_start_ms(run.manifest);
  const auto mlflow_run = client.create_run(result.experiment_id, run.name, start_ms,
                                            mlflow_tags(run.manifest, run.dir));
  result.run_id = mlflow_run.id;
  std::vector<MlflowMetric> metrics;
  for (const auto& r : run.records)
    for (auto& m : mlflow_metrics(r, start_ms)) metrics.push_back(std::move(m));
  result.metrics = metrics.size();
  client.log_batch(result.run_id, metrics, mlflow_params(run.manifest));
  const std::string model = run.dir + "/best.kiln";
  if (upload_model && fs::exists(model)) {
    client.upload_artifact(mlflow_run, model, "model/best.kiln");
    result.model_uploaded = true;
  }
  const int64_t end_ms = run.status == "running" ? 0 : start_ms + std::llround(run.wall_s * 1000.0);
  client.update_run(result.run_id, mlflow_status(run.status), end_ms);
  return result;
}

}  // namespace kiln::train
