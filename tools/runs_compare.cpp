#include "tools/runs_compare.h"

#include <cmath>
#include <map>
#include <sstream>

#include "tools/text_table.h"

namespace kiln::cli {
namespace {

// The settings a run is compared on, flattened to "options.learning-rate", "data.train.md5", ...
std::map<std::string, nlohmann::json> comparable(const train::RunSummary& run) {
  std::map<std::string, nlohmann::json> out;
  const auto& m = run.manifest;
  // value() returns a copy: held here, as items() refers into it.
  for (const char* section : {"options", "resolved"}) {
    const nlohmann::json entries = m.value(section, nlohmann::json::object());
    for (const auto& [key, value] : entries.items()) out[std::string(section) + "." + key] = value;
  }
  const nlohmann::json data = m.value("data", nlohmann::json::object());
  for (const auto& [split, d] : data.items())
    for (const char* key : {"path", "md5", "examples"})
      if (d.contains(key)) out["data." + split + "." + key] = d[key];
  for (const char* key : {"kiln_version", "threads", "cpu_features"})
    if (m.contains(key)) out[key] = m[key];
  return out;
}

std::string cell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::ostringstream os;
    os.precision(4);
    os << v.get<double>();
    return os.str();
  }
  return v.dump();
}

// Epoch e's training loss: the mean of the losses logged during it (step records carry the
// fractional epoch reached, e.g. 0.25 .. 1.0 for the first).
std::map<int64_t, double> train_loss_by_epoch(const train::RunSummary& run) {
  std::map<int64_t, std::pair<double, int>> sums;
  for (const auto& r : run.records) {
    if (r.contains("eval") || !r.contains("loss") || !r["loss"].is_number()) continue;
    const auto e = static_cast<int64_t>(std::ceil(r.value("epoch", 0.0) - 1e-9));
    sums[e].first += r["loss"].get<double>();
    ++sums[e].second;
  }
  std::map<int64_t, double> out;
  for (const auto& [e, s] : sums) out[e] = s.first / s.second;
  return out;
}

}  // namespace

nlohmann::json compare_runs(const std::vector<train::RunSummary>& runs) {
  std::vector<std::map<std::string, nlohmann::json>> settings;
  std::map<std::string, bool> names;
  for (const auto& r : runs) {
    settings.push_back(comparable(r));
    for (const auto& [k, v] : settings.back()) names[k] = true;
  }
  nlohmann::json params = nlohmann::json::object();
  int same = 0;
  for (const auto& [name, _] : names) {
    nlohmann::json values = nlohmann::json::array();
    for (const auto& s : settings) values.push_back(s.count(name) ? s.at(name) : nlohmann::json());
    bool differ = false;
    for (const auto& v : values) differ = differ || v != values[0];
    if (differ)
      params[name] = values;
    else
      ++same;
  }
  nlohmann::json curves = nlohmann::json::array();
  for (const auto& r : runs) {
    const auto evals = train::eval_curve(r, r.metric);
    const auto losses = train_loss_by_epoch(r);
    std::map<int64_t, nlohmann::json> rows;
    for (const auto& [e, loss] : losses)
      rows[e] = {{"epoch", e}, {"eval", nullptr}, {"train_loss", loss}};
    for (size_t i = 0; i < evals.x.size(); ++i) {
      const auto e = static_cast<int64_t>(evals.x[i]);
      if (!rows.count(e)) rows[e] = {{"epoch", e}, {"train_loss", nullptr}};
      rows[e]["eval"] = evals.y[i];
    }
    nlohmann::json epochs = nlohmann::json::array();
    for (auto& [e, row] : rows) epochs.push_back(row);
    curves.push_back({{"run", r.name}, {"metric", r.metric}, {"epochs", epochs}});
  }
  return {{"params", params}, {"same", same}, {"curves", curves}};
}

std::string render_comparison(const std::vector<train::RunSummary>& runs,
                              const nlohmann::json& comparison) {
  std::vector<std::string> header = {"parameter"};
  for (const auto& r : runs) header.push_back(r.name);
  std::string out;
  if (comparison["params"].empty()) {
    out += "parameters: all " + comparison["same"].dump() + " equal\n";
  } else {
    TextTable params(header);
    for (const auto& [name, values] : comparison["params"].items()) {
      std::vector<std::string> row = {name};
      for (const auto& v : values) row.push_back(cell(v));
      params.add_row(row);
    }
    out += "parameters that differ (" + comparison["same"].dump() + " others equal):\n" +
           params.render();
  }
  // One row per epoch, two columns per run: its eval metric and its mean training loss.
  header = {"epoch"};
  int64_t last_epoch = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& c = comparison["curves"][i];
    header.push_back(runs[i].name + " " + (runs[i].metric.empty() ? "eval" : runs[i].metric));
    header.push_back(runs[i].name + " train_loss");
    for (const auto& row : c["epochs"])
      last_epoch = std::max(last_epoch, row["epoch"].get<int64_t>());
  }
  TextTable curves(header);
  for (int64_t e = 1; e <= last_epoch; ++e) {
    std::vector<std::string> row = {std::to_string(e)};
    for (const auto& c : comparison["curves"]) {
      nlohmann::json eval, loss;
      for (const auto& r : c["epochs"])
        if (r["epoch"] == e) eval = r.value("eval", nlohmann::json()), loss = r["train_loss"];
      row.push_back(cell(eval));
      row.push_back(cell(loss));
    }
    curves.add_row(row);
  }
  out += "\nmetric curves by epoch (train_loss: mean of the losses logged in the epoch):\n" +
         curves.render();
  return out;
}

}  // namespace kiln::cli
