// scikit-learn's "balanced" class weights (compute_class_weight("balanced", ...)):
//   w_c = n_samples / (n_classes * count_c)
// over every class of the head. As scikit-learn refuses a class absent from y, a class with no
// training example is an error naming it (its weight would be infinite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

// `counts[c]`: training targets of class c; `labels` name the classes; `origin` the data file.
std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts,
                                           const std::vector<std::string>& labels,
                                           const std::string& origin);

}  // namespace kiln::train
