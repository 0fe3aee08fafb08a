#include "train/class_weights.h"

#include "core/error.h"

namespace kiln::train {

std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts,
                                           const std::vector<std::string>& labels,
                                           const std::string& origin) {
  KILN_CHECK(counts.size() == labels.size(), "class counts for ", counts.size(), " classes but ",
             labels.size(), " labels");
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<double> w(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    KILN_CHECK(counts[c] > 0, origin, ": --class-weights balanced: class '", labels[c],
               "' has no training example (give the weights explicitly, or drop the class)");
    w[c] = static_cast<double>(total) /
           (static_cast<double>(counts.size()) * static_cast<double>(counts[c]));
  }
  return w;
}

}  // namespace kiln::train
