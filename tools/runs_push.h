// kiln runs push RUN_DIR... --mlflow-uri URI [--experiment NAME] [--no-model] [--again]
// Uploads runs trained offline to an MLflow tracking server, as `wandb sync` does for W&B.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

int push_runs(const std::vector<std::string>& args);

}  // namespace kiln::cli
