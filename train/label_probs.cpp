#include "train/label_probs.h"

#include "core/error.h"
#include "core/ops.h"

namespace kiln::train {

size_t argmax_label(const std::vector<float>& probs) {
  size_t best = 0;
  for (size_t c = 1; c < probs.size(); ++c)
    if (probs[c] > probs[best]) best = c;
  return best;
}

nlohmann::ordered_json label_probs(const std::vector<std::string>& labels,
                                   const std::vector<float>& probs) {
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  for (size_t c = 0; c < probs.size(); ++c) m[labels[c]] = probs[c];
  return m;
}

std::vector<float> class_probabilities(const data::Record& record,
                                       const std::vector<nn::NamedTensors>& outputs,
                                       const std::vector<std::string>& labels) {
  KILN_CHECK(outputs.size() == 1, record.where(), "expected one model output, got ",
             outputs.size());
  std::vector<float> probs = softmax(outputs[0].at("logits"), -1).contiguous().to_floats();
  KILN_CHECK(probs.size() == labels.size(), "the model gives ", probs.size(), " scores for ",
             labels.size(), " labels");
  return probs;
}

}  // namespace kiln::train
