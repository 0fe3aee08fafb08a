// The confusion matrix of an evaluation written into a run directory: confusion_matrix.json
// ({"epoch", "labels", "matrix"}: rows gold, columns predicted, as sklearn's confusion_matrix)
// and confusion_matrix.svg, a heat map whose cells are shaded by the share of their gold row
// (each row's recall is its diagonal cell), with the counts written in. Both are replaced
// atomically at each evaluation.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::train {

// A standalone <svg> element; `matrix` is square with one row per label.
std::string render_confusion_matrix(const std::vector<std::string>& labels,
                                    const std::vector<std::vector<int64_t>>& matrix,
                                    const std::string& title);

// `labels` and `matrix` as an evaluation's JSON holds them; `epoch` is recorded in both files.
void write_confusion_matrix(const std::string& run_dir, const nlohmann::json& labels,
                            const nlohmann::json& matrix, const nlohmann::json& epoch);

}  // namespace kiln::train
