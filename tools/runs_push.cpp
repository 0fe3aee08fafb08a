#include "tools/runs_push.h"

#include <iostream>

#include "tools/args.h"
#include "tools/command.h"
#include "train/mlflow_client.h"
#include "train/mlflow_run.h"
#include "train/run_summary.h"

namespace kiln::cli {

int push_runs(const std::vector<std::string>& args) {
  ArgParser p("runs push", "RUN_DIR... --mlflow-uri URI [--experiment NAME]");
  p.positional("runs", "run directories, or directories holding them", false)
      .option("mlflow-uri", "the MLflow tracking server (http://host:port)")
      .option("experiment", "the MLflow experiment (created when missing)", "", "Default")
      .flag("no-model", "do not upload best.kiln as the artifact model/best.kiln")
      .flag("again", "push a run even if it is already complete at this server (a new copy)");
  // Flags with a value are followed by it; everything else not starting with '-' is a directory.
  std::vector<std::string> flags, dirs;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("-", 0) != 0) {
      dirs.push_back(args[i]);
      continue;
    }
    flags.push_back(args[i]);
    if ((args[i] == "--mlflow-uri" || args[i] == "--experiment") && i + 1 < args.size())
      flags.push_back(args[++i]);
  }
  p.parse(flags);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  if (dirs.empty()) throw UsageError("give the run directories to push");
  const std::string uri = p.get("mlflow-uri");
  train::MlflowClient client(uri);
  for (const auto& d : dirs) {
    const auto runs = train::find_runs(d);
    KILN_CHECK(!runs.empty(), d, ": no run directory (manifest.json) here or directly under it");
    for (const auto& dir : runs) {
      const auto run = train::read_run(dir);
      const auto link = train::read_mlflow_link(dir);
      if (link && link->uri == uri && link->complete && !p.get_flag("again")) {
        std::cerr << "kiln runs push: " << dir << " is already in MLflow as run " << link->run_id
                  << " (logged live); --again pushes a new copy\n";
        continue;
      }
      const auto r = train::push_run(run, client, p.get("experiment"), !p.get_flag("no-model"));
      train::write_mlflow_link(dir, {uri, r.experiment_id, r.run_id, "", true});
      std::cout << run.name << "\t" << r.run_id << "\n";
      std::cerr << "kiln runs push: " << dir << " -> " << uri << " experiment " << r.experiment_id
                << " run " << r.run_id << " (" << r.metrics << " metric values"
                << (r.model_uploaded ? ", model/best.kiln" : "") << ", status "
                << train::mlflow_status(run.status) << ")\n";
    }
  }
  return 0;
}

}  // namespace kiln::cli
