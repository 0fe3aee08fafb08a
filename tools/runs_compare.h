// `kiln runs compare A B ...`: what differs between runs (options, resolved settings, data
// versions, kiln version, threads) and, epoch by epoch, each run's eval metric and mean training
// loss, as text tables or as JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/run_summary.h"

namespace kiln::cli {

// {"params": {name: [value per run, null where unrecorded]} (only names whose values differ),
//  "same": number of names equal in every run,
//  "curves": [{"run", "metric", "epochs": [{"epoch", "eval", "train_loss"}]}]}
nlohmann::json compare_runs(const std::vector<train::RunSummary>& runs);
std::string render_comparison(const std::vector<train::RunSummary>& runs,
                              const nlohmann::json& comparison);

}  // namespace kiln::cli
