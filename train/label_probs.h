// What the classification predictors report from a probability vector over a head's labels.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/record_reader.h"
#include "nn/model.h"

namespace kiln::train {

// Index of the most probable label; the first one wins ties.
size_t argmax_label(const std::vector<float>& probs);
// {label: probability} in label-id order (the "probs" field of tag and classify output).
nlohmann::ordered_json label_probs(const std::vector<std::string>& labels,
                                   const std::vector<float>& probs);
// The class probabilities (softmax of "logits") of a predictor's single model output for one
// record, checked against the head's labels (errors name the record).
std::vector<float> class_probabilities(const data::Record& record,
                                       const std::vector<nn::NamedTensors>& outputs,
                                       const std::vector<std::string>& labels);

}  // namespace kiln::train
