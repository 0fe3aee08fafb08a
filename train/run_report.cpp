#include "train/run_report.h"

#include <algorithm>
#include <sstream>

#include "train/svg_chart.h"

namespace kiln::train {
namespace {

std::string json_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void table_row(std::ostringstream& html, const std::string& key, const std::string& value) {
  html << "<tr><th>" << xml_escape(key) << "</th><td>" << xml_escape(value) << "</td></tr>\n";
}

Chart step_chart(const RunSummary& run, const std::string& field, const std::string& title,
                 const std::string& y_label) {
  const Curve c = step_curve(run, field);
  return {"chart-" + field, title, "update (step)", y_label, {{field, c.x, c.y}}};
}

// The selection metric and every other numeric eval score of the records, by epoch (the eval loss
// and example count are on other scales; the per-class scores and the confusion matrix are nested
// objects and stay out).
Chart eval_chart(const RunSummary& run) {
  Chart chart{"chart-eval", "evaluation by epoch", "epoch", "score", {}};
  std::vector<std::string> fields;
  if (!run.metric.empty()) fields.push_back(run.metric);
  for (const auto& r : run.records)
    if (r.contains("eval"))
      for (const auto& [key, value] : r["eval"].items())
        if (value.is_number() && key != "loss" && key != "examples" &&
            std::find(fields.begin(), fields.end(), key) == fields.end())
          fields.push_back(key);
  for (const auto& f : fields) {
    const Curve c = eval_curve(run, f);
    chart.series.push_back({f, c.x, c.y});
  }
  return chart;
}

constexpr const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee}
pre{background:#f8f8f8;border:1px solid #ddd;padding:8px;font-size:12px;overflow:auto}
.status-failed{color:#b00}.status-finished{color:#070})";

}  // namespace

std::string render_run_report(const RunSummary& run) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
       << "<title>kiln run " << xml_escape(run.name) << "</title>\n<style>" << kStyle
       << "</style>\n</head>\n<body>\n<h1>kiln run " << xml_escape(run.name) << "</h1>\n";

  html << "<h2>Summary</h2>\n<table id='summary'>\n";
  table_row(html, "directory", run.dir);
  html << "<tr><th>status</th><td class='status-" << run.status << "'>" << run.status
       << "</td></tr>\n";
  if (!run.failure.empty()) table_row(html, "failure", run.failure);
  table_row(html, "task", run.option("task"));
  table_row(html, "model", run.model());
  if (run.best_epoch >= 0)
    table_row(html, "best " + run.metric,
              json_text(run.best_metric) + " (epoch " + std::to_string(run.best_epoch) + ")");
  table_row(html, "updates", std::to_string(run.steps));
  table_row(html, "training time", format_duration(run.wall_s));
  table_row(html, "created", run.manifest.value("created", ""));
  table_row(html, "command", run.manifest.value("command", ""));
  html << "</table>\n";

  html << "<h2>Curves</h2>\n<div class='charts'>\n";
  html << render_chart(step_chart(run, "loss", "training loss", "loss"));
  html << render_chart(eval_chart(run));
  html << render_chart(step_chart(run, "lr", "learning rate", "lr"));
  html << render_chart(step_chart(run, "grad_norm", "gradient norm (before clipping)", "norm"));
  html << render_chart(step_chart(run, "tokens_per_s", "throughput", "tokens / s"));
  html << render_chart(step_chart(run, "rss_mb", "resident memory", "MiB"));
  html << render_chart(
      step_chart(run, "cpu_percent", "CPU use (100 = one core busy)", "% of one core"));
  html << "</div>\n";

  html << "<h2>Parameters</h2>\n<table id='params'>\n";
  // value() returns a copy: held here, as items() refers into it.
  const nlohmann::json options = run.manifest.value("options", nlohmann::json::object());
  const nlohmann::json resolved = run.manifest.value("resolved", nlohmann::json::object());
  const nlohmann::json data = run.manifest.value("data", nlohmann::json::object());
  for (const auto& [key, value] : options.items()) table_row(html, key, json_text(value));
  for (const auto& [key, value] : resolved.items())
    table_row(html, "resolved." + key, json_text(value));
  html << "</table>\n";

  html << "<h2>Data</h2>\n<table id='data'>\n<tr><th></th><th>path</th><th>examples</th>"
       << "<th>size</th><th>md5 (DVC)</th><th>sha256</th></tr>\n";
  for (const auto& [split, d] : data.items()) {
    html << "<tr><th>" << xml_escape(split) << "</th>";
    for (const char* key : {"path", "examples", "size", "md5", "sha256"})
      html << "<td>" << xml_escape(d.contains(key) ? json_text(d[key]) : "") << "</td>";
    html << "</tr>\n";
  }
  html << "</table>\n";

  html << "<h2>Manifest</h2>\n<pre id='manifest'>" << xml_escape(run.manifest.dump(2))
       << "</pre>\n</body>\n</html>\n";
  return html.str();
}

}  // namespace kiln::train
