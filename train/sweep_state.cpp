#include "train/sweep_state.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace kiln::train {

nlohmann::ordered_json SweepState::to_json() const {
  nlohmann::ordered_json trials_json = nlohmann::ordered_json::array();
  for (const auto& t : trials) {
    nlohmann::ordered_json j = {{"id", t.id},         {"name", t.name},     {"params", t.params},
                                {"status", t.status}, {"epochs", t.epochs}, {"target", t.target},
                                {"metric", nullptr}};
    if (t.metric) j["metric"] = *t.metric;
    if (!t.failure.empty()) j["failure"] = t.failure;
    trials_json.push_back(std::move(j));
  }
  nlohmann::ordered_json reports_json = nlohmann::ordered_json::array();
  for (const auto& r : reports)
    reports_json.push_back({{"rung", r.rung}, {"trial", r.trial}, {"value", r.value}});
  return {{"kiln_sweep", 1}, {"config", config},      {"metric", metric},
          {"best", best},    {"trials", trials_json}, {"reports", reports_json}};
}

SweepState SweepState::from_json(const nlohmann::json& j, const std::string& origin) {
  SweepState s;
  try {
    KILN_CHECK(j.is_object() && j.value("kiln_sweep", 0) == 1, origin,
               ": not a kiln sweep state (kiln_sweep: 1)");
    s.config = nlohmann::ordered_json::parse(j.at("config").dump());
    s.metric = j.at("metric").get<std::string>();
    s.best = j.at("best").get<std::string>();
    for (const auto& t : j.at("trials")) {
      SweepTrial trial;
      trial.id = t.at("id").get<int64_t>();
      trial.name = t.at("name").get<std::string>();
      trial.params = nlohmann::ordered_json::parse(t.at("params").dump());
      trial.status = t.at("status").get<std::string>();
      trial.epochs = t.at("epochs").get<int64_t>();
      trial.target = t.at("target").get<int64_t>();
      if (!t.at("metric").is_null()) trial.metric = t.at("metric").get<double>();
      trial.failure = t.value("failure", "");
      KILN_CHECK(trial.id == static_cast<int64_t>(s.trials.size()), origin, ": trials[",
                 s.trials.size(), "].id is ", trial.id);
      s.trials.push_back(std::move(trial));
    }
    for (const auto& r : j.at("reports"))
      s.reports.push_back(
          {r.at("rung").get<int64_t>(), r.at("trial").get<int64_t>(), r.at("value").get<double>()});
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": malformed sweep state (" + e.what() + ")");
  }
  return s;
}

std::string sweep_state_path(const std::string& sweep_dir) {
  return sweep_dir + "/sweep.json";
}

void write_sweep_state(const std::string& sweep_dir, const SweepState& s) {
  io::atomic_write_file(sweep_state_path(sweep_dir), s.to_json().dump(2) + "\n");
}

std::optional<SweepState> read_sweep_state(const std::string& sweep_dir) {
  const std::string path = sweep_state_path(sweep_dir);
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream f(path);
  KILN_CHECK(f, path, ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed JSON (" + e.what() + ")");
  }
  return SweepState::from_json(j, path);
}

}  // namespace kiln::train
