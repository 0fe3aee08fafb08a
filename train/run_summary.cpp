#include "train/run_summary.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/io/safetensors_reader.h"
#include "train/run_dir.h"
#include "train/run_lock.h"

namespace kiln::train {
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> read_records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) out.push_back(std::move(j));  // a torn last line after a crash is skipped
  }
  return out;
}

bool lock_held(const std::string& dir) {
  try {
    RunLock::check_not_held(dir);
    return false;
  } catch (const Error&) {
    return true;
  }
}

// The checkpoint's TrainState says whether training is done; a missing or unreadable checkpoint
// (a run stopped before its first one) reads as not finished.
bool checkpoint_finished(const std::string& dir) {
  try {
    const auto file = io::SafetensorsFile::open(checkpoint_path(dir));
    const auto it = file.metadata().find("kiln.train_state");
    if (it == file.metadata().end()) return false;
    return nlohmann::json::parse(it->second).value("finished", false);
  } catch (const std::exception&) {
    return false;
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Runs written before elapsed_s was logged: from the manifest's creation time to the last write
// of metrics.jsonl (which then includes any pause between sessions).
double wall_from_file_times(const RunSummary& run) {
  const std::string created = run.manifest.value("created", "");
  std::tm tm{};
  if (created.empty() || !strptime(created.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  std::error_code ec;
  const auto mtime = fs::last_write_time(run.dir + "/metrics.jsonl", ec);
  if (ec) return 0;
  const auto sys = std::chrono::file_clock::to_sys(mtime);
  const double end = std::chrono::duration<double>(sys.time_since_epoch()).count();
  return std::max(0.0, end - static_cast<double>(timegm(&tm)));
}

}  // namespace

std::string RunSummary::option(const std::string& name) const {
  const auto& options = manifest.value("options", nlohmann::json::object());
  if (!options.contains(name)) return "";
  const auto& v = options[name];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string RunSummary::model() const {
  const std::string path = option("model");
  if (!path.empty()) return fs::path(path).filename().string();
  const auto& config = manifest.value("model_config", nlohmann::json::object());
  return "config:" + config.value("model_type", std::string("?"));
}

bool is_run_dir(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / "manifest.json");
}

RunSummary read_run(const std::string& dir) {
  KILN_CHECK(is_run_dir(dir), dir, ": not a kiln run directory (no manifest.json)");
  RunSummary run;
  run.dir = dir;
  run.name = fs::path(dir).lexically_normal().filename().string();
  if (run.name.empty() || run.name == ".")
    run.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  run.manifest = read_json_file(dir + "/manifest.json");
  run.records = read_records(dir + "/metrics.jsonl");
  run.metric = run.manifest.value("resolved", nlohmann::json::object()).value("metric", "");
  for (const auto& r : run.records) {
    run.steps = std::max(run.steps, r.value("step", int64_t{0}));
    run.wall_s = std::max(run.wall_s, r.value("elapsed_s", 0.0));
    if (run.metric.empty() || !r.contains("eval")) continue;
    const auto& v = r["eval"].value(run.metric, nlohmann::json());
    // Higher is better for every selection metric, as the trainer keeps the best model.
    if (v.is_number() && (run.best_epoch < 0 || v.get<double>() > run.best_metric)) {
      run.best_metric = v.get<double>();
      run.best_epoch = r.value("epoch", int64_t{0});
    }
  }
  if (run.wall_s == 0) run.wall_s = wall_from_file_times(run);
  if (lock_held(dir)) {
    run.status = "running";
  } else if (fs::exists(dir + "/FAILED")) {
    run.status = "failed";
    run.failure = read_text(dir + "/FAILED");
  } else {
    run.status = checkpoint_finished(dir) ? "finished" : "stopped";
  }
  return run;
}

std::vector<std::string> find_runs(const std::string& dir) {
  if (is_run_dir(dir)) return {dir};
  std::vector<std::string> runs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string path = dir == "." ? entry.path().filename().string() : entry.path().string();
    if (entry.is_directory() && is_run_dir(path)) runs.push_back(path);
  }
  KILN_CHECK(!ec, dir, ": cannot list (", ec.message(), ")");
  std::sort(runs.begin(), runs.end());
  return runs;
}

Curve eval_curve(const RunSummary& run, const std::string& field) {
  Curve c;
  for (const auto& r : run.records) {
    if (!r.contains("eval") || !r["eval"].contains(field) || !r["eval"][field].is_number())
      continue;
    c.x.push_back(r.value("epoch", 0.0));
    c.y.push_back(r["eval"][field].get<double>());
  }
  return c;
}

Curve step_curve(const RunSummary& run, const std::string& field) {
  Curve c;
  for (const auto& r : run.records) {
    if (r.contains("eval") || !r.contains(field) || !r[field].is_number()) continue;
    c.x.push_back(r.value("step", 0.0));
    c.y.push_back(r[field].get<double>());
  }
  return c;
}

std::string format_duration(double seconds) {
  char buf[32];
  const auto s = static_cast<long long>(std::llround(seconds));
  if (seconds < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  return buf;
}

}  // namespace kiln::train
