#include "train/run_dir.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "nn/state_dict_io.h"

namespace kiln::train {

void write_json_file(const std::string& path, const nlohmann::json& j) {
  io::atomic_write_file(path, j.dump(2) + "\n");
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream f(path);
  KILN_CHECK(f, path, ": cannot open");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed JSON (" + e.what() + ")");
  }
}

MetricsLog::MetricsLog(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "a")) {
  KILN_CHECK(f_, path, ": cannot open for appending: ", std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  std::fclose(f_);
}

void MetricsLog::append(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  const bool ok = std::fwrite(line.data(), 1, line.size(), f_) == line.size();
  KILN_CHECK(ok && std::fflush(f_) == 0, path_, ": write failed: ", std::strerror(errno));
}

namespace {

struct Series {
  std::vector<double> x, y;
};

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

// One panel: axes, min/max labels, a title, and the series as a polyline with dots.
void draw_panel(std::ostringstream& svg, double left, double top, double w, double h,
                const std::string& title, const std::string& x_label, const Series& s,
                const char* colour) {
  svg << "<text x='" << left << "' y='" << top - 8 << "' font-size='14'>" << title << "</text>\n";
  svg << "<rect x='" << left << "' y='" << top << "' width='" << w << "' height='" << h
      << "' fill='none' stroke='#888'/>\n";
  svg << "<text x='" << left + w / 2 << "' y='" << top + h + 30
      << "' font-size='12' text-anchor='middle'>" << x_label << "</text>\n";
  if (s.x.empty()) {
    svg << "<text x='" << left + w / 2 << "' y='" << top + h / 2
        << "' font-size='12' text-anchor='middle' fill='#888'>no data yet</text>\n";
    return;
  }
  const auto [xmin_it, xmax_it] = std::minmax_element(s.x.begin(), s.x.end());
  const auto [ymin_it, ymax_it] = std::minmax_element(s.y.begin(), s.y.end());
  const double xmin = *xmin_it, xmax = *xmax_it > *xmin_it ? *xmax_it : *xmin_it + 1;
  const double ymin = *ymin_it, ymax = *ymax_it > *ymin_it ? *ymax_it : *ymin_it + 1;
  auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * w; };
  auto py = [&](double y) { return top + h - (y - ymin) / (ymax - ymin) * h; };
  svg << "<text x='" << left - 4 << "' y='" << top + 4 << "' font-size='11' text-anchor='end'>"
      << fmt(ymax) << "</text>\n";
  svg << "<text x='" << left - 4 << "' y='" << top + h << "' font-size='11' text-anchor='end'>"
      << fmt(ymin) << "</text>\n";
  svg << "<text x='" << left << "' y='" << top + h + 14 << "' font-size='11'>" << fmt(xmin)
      << "</text>\n";
  svg << "<text x='" << left + w << "' y='" << top + h + 14 << "' font-size='11' text-anchor='end'>"
      << fmt(xmax) << "</text>\n";
  svg << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.5' points='";
  for (size_t i = 0; i < s.x.size(); ++i) svg << fmt(px(s.x[i])) << "," << fmt(py(s.y[i])) << " ";
  svg << "'/>\n";
  for (size_t i = 0; i < s.x.size(); ++i)
    svg << "<circle cx='" << fmt(px(s.x[i])) << "' cy='" << fmt(py(s.y[i])) << "' r='2.5' fill='"
        << colour << "'/>\n";
}

}  // namespace

std::string render_plot(const std::string& metrics_path, const std::string& metric) {
  Series loss, score;
  std::ifstream f(metrics_path);
  std::string line;
  while (std::getline(f, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;  // a torn last line after a crash
    if (j.contains("loss") && j["loss"].is_number() && j.contains("step")) {
      loss.x.push_back(j["step"].get<double>());
      loss.y.push_back(j["loss"].get<double>());
    } else if (j.contains("eval") && j["eval"].contains(metric) && j["eval"][metric].is_number()) {
      score.x.push_back(j["epoch"].get<double>());
      score.y.push_back(j["eval"][metric].get<double>());
    }
  }
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='340' "
         "font-family='sans-serif'>\n<rect width='900' height='340' fill='white'/>\n";
  draw_panel(svg, 70, 40, 340, 240, "training loss", "step", loss, "#1f77b4");
  draw_panel(svg, 520, 40, 340, 240, "eval " + metric, "epoch", score, "#d62728");
  svg << "</svg>\n";
  return svg.str();
}

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint/checkpoint.safetensors";
}

namespace {

constexpr const char* kWeightsPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The layout before optimizers were stored by kind: AdamW moments under adam_m./adam_v. and the
// step count in kiln.optimizer_step.
OptimizerState legacy_adamw_state(const nn::StateDict& all,
                                  const std::map<std::string, std::string>& meta) {
  OptimizerState s;
  s.kind = "adamw";
  s.scalars["step"] = std::stoll(meta.at("kiln.optimizer_step"));
  for (const auto& [key, slot] :
       {std::pair<std::string, std::string>{"adam_m.", "exp_avg"}, {"adam_v.", "exp_avg_sq"}})
    for (const auto& [name, t] : all)
      if (starts_with(name, key)) s.slots[slot][name.substr(key.size())] = t;
  return s;
}

}  // namespace

void write_checkpoint(const std::string& run_dir, const nn::StateDict& weights,
                      const Optimizer& opt, const nlohmann::json& state,
                      const nlohmann::json& config, const std::string& tokenizer_json) {
  std::filesystem::create_directories(run_dir + "/checkpoint");
  nn::StateDict all;
  for (const auto& [name, t] : weights) all[kWeightsPrefix + name] = t;
  const OptimizerState s = opt.state_dict();
  // Slot names hold no dots, so the first dot after the prefix ends the slot.
  for (const auto& [slot, by_name] : s.slots)
    for (const auto& [name, t] : by_name) all[kOptimizerPrefix + slot + "." + name] = t;
  const nlohmann::json optimizer = {{"kind", s.kind}, {"scalars", s.scalars}};
  nn::save_safetensors(checkpoint_path(run_dir), all,
                       {{"kiln.train_state", state.dump()},
                        {"kiln.optimizer", optimizer.dump()},
                        {"kiln.config", config.dump()},
                        {"kiln.tokenizer", tokenizer_json}});
}

Checkpoint read_checkpoint(const std::string& run_dir, bool verify) {
  const std::string path = checkpoint_path(run_dir);
  KILN_CHECK(std::filesystem::exists(path), run_dir, ": no checkpoint to resume from (", path,
             " is missing)");
  std::map<std::string, std::string> meta;
  const nn::StateDict all = nn::load_safetensors(path, &meta, verify);
  for (const char* key : {"kiln.train_state", "kiln.config"})
    KILN_CHECK(meta.count(key), path, ": not a kiln training checkpoint (no ", key, ")");
  KILN_CHECK(meta.count("kiln.optimizer") || meta.count("kiln.optimizer_step"), path,
             ": not a kiln training checkpoint (no kiln.optimizer)");
  Checkpoint c;
  try {
    c.state = nlohmann::json::parse(meta["kiln.train_state"]);
    c.config = nlohmann::json::parse(meta["kiln.config"]);
    if (meta.count("kiln.optimizer")) {
      const nlohmann::json o = nlohmann::json::parse(meta["kiln.optimizer"]);
      c.optimizer.kind = o.at("kind").get<std::string>();
      c.optimizer.scalars = o.at("scalars");
    } else {
      c.optimizer = legacy_adamw_state(all, meta);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed checkpoint metadata (" + e.what() + ")");
  }
  c.optimizer.origin = path;
  c.tokenizer_json = meta["kiln.tokenizer"];
  for (const auto& [key, t] : all) {
    if (starts_with(key, kWeightsPrefix)) {
      // Tensors come zero-copy from the mapping; training updates them in place, so copy.
      c.weights[key.substr(std::string(kWeightsPrefix).size())] = t.clone();
    } else if (starts_with(key, kOptimizerPrefix)) {
      // Optimizer::load_state_dict copies these itself.
      const std::string rest = key.substr(std::string(kOptimizerPrefix).size());
      const size_t dot = rest.find('.');
      KILN_CHECK(dot != std::string::npos, path, ": malformed optimizer tensor name '", key, "'");
      c.optimizer.slots[rest.substr(0, dot)][rest.substr(dot + 1)] = t;
    }
  }
  return c;
}

}  // namespace kiln::train
