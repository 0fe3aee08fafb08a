// kiln runs [DIR...] [--json]              list runs as a table
// kiln runs compare RUN RUN... [--json]    parameter differences and metric curves
// kiln runs report RUN -o report.html      one self-contained HTML page
// kiln runs push RUN... --mlflow-uri URI   upload runs to an MLflow server (tools/runs_push.h)
// Everything is read from the run directories' files (train/run_summary.h), offline; a run being
// trained is listed as running (it holds train.lock).
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/io/atomic_file.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/runs_compare.h"
#include "tools/runs_push.h"
#include "tools/text_table.h"
#include "train/run_report.h"
#include "train/run_summary.h"

namespace kiln::cli {
namespace {

std::string number(double v) {
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

// "8" or, with gradient accumulation, "8x4" (micro-batch x accumulation steps).
std::string batch(const train::RunSummary& r) {
  const std::string accumulation = r.option("gradient-accumulation-steps");
  const std::string micro = r.option("per-device-batch-size");
  return accumulation.empty() || accumulation == "1" ? micro : micro + "x" + accumulation;
}

nlohmann::ordered_json run_json(const train::RunSummary& r) {
  nlohmann::ordered_json j = {
      {"name", r.name},
      {"dir", r.dir},
      {"task", r.option("task")},
      {"model", r.model()},
      {"learning_rate", r.option("learning-rate")},
      {"epochs", r.option("epochs")},
      {"batch_size", r.option("per-device-batch-size")},
      {"gradient_accumulation_steps", r.option("gradient-accumulation-steps")},
      {"metric", r.metric},
      {"best_metric", nullptr},
      {"best_epoch", nullptr},
      {"status", r.status},
      {"steps", r.steps},
      {"wall_s", r.wall_s}};
  if (r.best_epoch >= 0) j["best_metric"] = r.best_metric, j["best_epoch"] = r.best_epoch;
  if (!r.failure.empty()) j["failure"] = r.failure;
  return j;
}

std::vector<train::RunSummary> read_runs(const std::vector<std::string>& dirs) {
  std::vector<train::RunSummary> runs;
  for (const auto& d : dirs)
    for (const auto& run : train::find_runs(d)) runs.push_back(train::read_run(run));
  return runs;
}

// Parses the flags of `args` with `p` and leaves every other argument in `paths` (ArgParser takes
// one value per positional; these commands take any number of directories). True when --help
// was asked for and printed (with `more_help` after it).
bool parse_with_paths(ArgParser& p, const std::vector<std::string>& args,
                      std::vector<std::string>& paths, const std::string& more_help = "") {
  std::vector<std::string> flags;
  for (const auto& a : args) (a.rfind("-", 0) == 0 ? flags : paths).push_back(a);
  p.parse(flags);
  if (p.help_requested()) std::cout << p.help_text() << more_help;
  return p.help_requested();
}

int list_runs(const std::vector<std::string>& args) {
  ArgParser p("runs",
              "[DIR...] [--json] | compare RUN RUN... [--json] | report RUN -o report.html | "
              "push RUN... --mlflow-uri URI");
  p.positional("dirs", "run directories, or directories holding them (default: .)", false)
      .flag("json", "one JSON array for machines instead of the table");
  std::vector<std::string> dirs;
  if (parse_with_paths(p, args, dirs,
                       "\nStatus: running (holds train.lock), finished, stopped (resumable with "
                       "--resume) or failed (see RUN/FAILED).\n"))
    return 0;
  if (dirs.empty()) dirs.push_back(".");
  const auto runs = read_runs(dirs);
  if (p.get_flag("json")) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& r : runs) out.push_back(run_json(r));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  TextTable table(
      {"name", "task", "model", "lr", "epochs", "batch", "best", "status", "steps", "time"});
  for (const auto& r : runs) {
    const std::string best = r.best_epoch < 0 ? "-"
                                              : r.metric + "=" + number(r.best_metric) + " (ep " +
                                                    std::to_string(r.best_epoch) + ")";
    table.add_row({r.name, r.option("task"), r.model(), r.option("learning-rate"),
                   r.option("epochs"), batch(r), best, r.status, std::to_string(r.steps),
                   train::format_duration(r.wall_s)});
  }
  std::cout << (runs.empty() ? "no runs found\n" : table.render());
  return 0;
}

int compare(const std::vector<std::string>& args) {
  ArgParser p("runs compare", "RUN RUN... [--json]");
  p.positional("runs", "two or more run directories", false)
      .flag("json", "the comparison as one JSON object");
  std::vector<std::string> dirs;
  if (parse_with_paths(p, args, dirs)) return 0;
  if (dirs.size() < 2) throw UsageError("give at least two run directories to compare");
  std::vector<train::RunSummary> runs;
  for (const auto& d : dirs) runs.push_back(train::read_run(d));
  const auto comparison = compare_runs(runs);
  std::cout << (p.get_flag("json") ? comparison.dump(2) + "\n"
                                   : render_comparison(runs, comparison));
  return 0;
}

int report(const std::vector<std::string>& args) {
  ArgParser p("runs report", "RUN -o report.html");
  p.positional("run", "the run directory")
      .option("output", "the HTML file to write (replaced atomically)", "-o");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const auto run = train::read_run(p.get("run"));
  const std::string output = p.get("output");
  io::atomic_write_file(output, train::render_run_report(run));
  std::cerr << "kiln runs report: " << output << "\n";
  return 0;
}

int run_runs(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "compare") return compare({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "report") return report({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "push") return push_runs({args.begin() + 1, args.end()});
  return list_runs(args);
}

KILN_COMMAND("runs", "list, compare, report and push (MLflow) training runs (run directories)",
             run_runs);

}  // namespace
}  // namespace kiln::cli
