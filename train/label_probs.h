// What the classification predictors report from a probability vector over a head's labels.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::train {

// Index of the most probable label; the first one wins ties.
size_t argmax_label(const std::vector<float>& probs);
// {label: probability} in label-id order (the "probs" field of tag and classify output).
nlohmann::ordered_json label_probs(const std::vector<std::string>& labels,
                                   const std::vector<float>& probs);

}  // namespace kiln::train
