#include "train/mlflow_client.h"

#include <httplib.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"

namespace kiln::train {
namespace {

nlohmann::json pairs_json(const MlflowPairs& pairs, size_t from, size_t to) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = from; i < to; ++i)
    out.push_back({{"key", pairs[i].first}, {"value", pairs[i].second}});
  return out;
}

// MLflow's query strings and artifact paths: everything but unreserved characters (and '/'
// in paths) percent-encoded.
std::string url_encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
      out += static_cast<char>(c);
    else
      out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}

}  // namespace

MlflowClient::MlflowClient(const std::string& uri, double connect_timeout_s, double read_timeout_s)
    : uri_(uri) {
  std::string u = uri;
  while (!u.empty() && u.back() == '/') u.pop_back();
  const size_t scheme = u.find("://");
  KILN_CHECK(
      scheme != std::string::npos && (u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0),
      "--mlflow-uri: expected http://host:port of an MLflow tracking server, got '", uri, "'");
  const size_t path = u.find('/', scheme + 3);
  if (path != std::string::npos) prefix_ = u.substr(path), u = u.substr(0, path);
  http_ = std::make_unique<httplib::Client>(u);
  KILN_CHECK(http_->is_valid(), "--mlflow-uri: cannot use '", uri, "'");
  auto split = [](double s, auto set) {
    const auto sec = static_cast<time_t>(s);
    set(sec, static_cast<time_t>((s - static_cast<double>(sec)) * 1e6));
  };
  split(connect_timeout_s, [&](time_t a, time_t b) { http_->set_connection_timeout(a, b); });
  split(read_timeout_s, [&](time_t a, time_t b) {
    http_->set_read_timeout(a, b);
    http_->set_write_timeout(a, b);
  });
}

MlflowClient::~MlflowClient() = default;

nlohmann::json MlflowClient::call(const std::string& method, const std::string& endpoint,
                                  const nlohmann::json& body) {
  const std::string path = prefix_ + "/api/2.0/mlflow/" + endpoint;
  httplib::Result r =
      method == "GET" ? http_->Get(path) : http_->Post(path, body.dump(), "application/json");
  const std::string where = "MLflow at " + uri_ + " (" + endpoint + ")";
  KILN_CHECK(r, where, ": ", httplib::to_string(r.error()));
  const auto reply = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (r->status != 200) {
    std::string message = r->body.substr(0, 300);
    if (reply.is_object() && reply.contains("message") && reply["message"].is_string())
      message = reply.value("error_code", "") + ": " + reply["message"].get<std::string>();
    throw Error(where + ": HTTP " + std::to_string(r->status) + " " + message);
  }
  KILN_CHECK(reply.is_object(), where, ": the reply is not JSON (is this an MLflow server?)");
  return reply;
}

std::string MlflowClient::experiment_id(const std::string& name) {
  const std::string get = "experiments/get-by-name?experiment_name=" + url_encode(name, false);
  const std::string path = prefix_ + "/api/2.0/mlflow/" + get;
  httplib::Result r = http_->Get(path);
  KILN_CHECK(r, "MLflow at ", uri_, " (experiments/get-by-name): ", httplib::to_string(r.error()));
  if (r->status == 200) {
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    KILN_CHECK(j.is_object() && j.contains("experiment"), "MLflow at ", uri_,
               " (experiments/get-by-name): unexpected reply ", r->body.substr(0, 200));
    return j["experiment"].at("experiment_id").get<std::string>();
  }
  // Not found (404, RESOURCE_DOES_NOT_EXIST): create it. Any other error is reported by call().
  if (r->status != 404) call("GET", get, nullptr);
  return call("POST", "experiments/create", {{"name", name}})
      .at("experiment_id")
      .get<std::string>();
}

MlflowClient::Run MlflowClient::create_run(const std::string& experiment_id,
                                           const std::string& run_name, int64_t start_time_ms,
                                           const MlflowPairs& tags) {
  const auto reply = call("POST", "runs/create",
                          {{"experiment_id", experiment_id},
                           {"run_name", run_name},
                           {"start_time", start_time_ms},
                           {"tags", pairs_json(tags, 0, std::min<size_t>(tags.size(), 100))}});
  const auto& info = reply.at("run").at("info");
  Run run{info.at("run_id").get<std::string>(), info.value("artifact_uri", "")};
  if (tags.size() > 100) log_batch(run.id, {}, {}, MlflowPairs(tags.begin() + 100, tags.end()));
  return run;
}

void MlflowClient::log_batch(const std::string& run_id, const std::vector<MlflowMetric>& metrics,
                             const MlflowPairs& params, const MlflowPairs& tags) {
  size_t m = 0, p = 0, t = 0;
  while (m < metrics.size() || p < params.size() || t < tags.size()) {
    // At most 1000 entities in all, 100 params and 100 tags per request.
    const size_t np = std::min<size_t>(params.size() - p, 100);
    const size_t nt = std::min<size_t>(tags.size() - t, 100);
    const size_t nm = std::min<size_t>(metrics.size() - m, 1000 - np - nt);
    nlohmann::json metrics_json = nlohmann::json::array();
    for (size_t i = m; i < m + nm; ++i)
      metrics_json.push_back({{"key", metrics[i].key},
                              {"value", metrics[i].value},
                              {"timestamp", metrics[i].timestamp_ms},
                              {"step", metrics[i].step}});
    call("POST", "runs/log-batch",
         {{"run_id", run_id},
          {"metrics", metrics_json},
          {"params", pairs_json(params, p, p + np)},
          {"tags", pairs_json(tags, t, t + nt)}});
    m += nm, p += np, t += nt;
  }
}

void MlflowClient::update_run(const std::string& run_id, const std::string& status,
                              int64_t end_time_ms) {
  nlohmann::json body = {{"run_id", run_id}, {"status", status}};
  if (end_time_ms > 0) body["end_time"] = end_time_ms;
  call("POST", "runs/update", body);
}

std::string MlflowClient::run_status(const std::string& run_id) {
  return call("GET", "runs/get?run_id=" + url_encode(run_id, false), nullptr)
      .at("run")
      .at("info")
      .at("status")
      .get<std::string>();
}

void MlflowClient::upload_artifact(const Run& run, const std::string& path,
                                   const std::string& name) {
  const std::string scheme = "mlflow-artifacts:";
  KILN_CHECK(run.artifact_uri.rfind(scheme, 0) == 0, "MLflow at ", uri_,
             ": the run's artifacts go to ", run.artifact_uri,
             ", which kiln cannot write through the server (start mlflow server with "
             "--serve-artifacts)");
  std::string where = run.artifact_uri.substr(scheme.size());
  if (where.rfind("//", 0) == 0) where = where.substr(where.find('/', 2));  // host part
  while (!where.empty() && where.front() == '/') where.erase(0, 1);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  KILN_CHECK(in, path, ": cannot open");
  const auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  const std::string endpoint =
      prefix_ + "/api/2.0/mlflow-artifacts/artifacts/" + url_encode(where + "/" + name, true);
  std::vector<char> buf(1 << 20);
  httplib::Result r = http_->Put(
      endpoint, size,
      [&](size_t offset, size_t length, httplib::DataSink& sink) {
        in.seekg(static_cast<std::streamoff>(offset));
        const size_t n = std::min(length, buf.size());
        in.read(buf.data(), static_cast<std::streamsize>(n));
        if (in.gcount() <= 0) return false;
        return sink.write(buf.data(), static_cast<size_t>(in.gcount()));
      },
      "application/octet-stream");
  KILN_CHECK(r, "MLflow at ", uri_, " (artifact upload of ", path,
             "): ", httplib::to_string(r.error()));
  KILN_CHECK(r->status == 200, "MLflow at ", uri_, " (artifact upload of ", path, "): HTTP ",
             r->status, " ", r->body.substr(0, 300));
}

}  // namespace kiln::train
