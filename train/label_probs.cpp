#include "train/label_probs.h"

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

}  // namespace kiln::train
