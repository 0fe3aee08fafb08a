// --scheme auto: per-layer sensitivity on calibration data and a greedy choice of the smallest
// format per tensor that keeps the task metric within an accuracy budget of the float model.
//
// 1. The float model's metric (`measure`, in points: accuracy x100, ROUGE as reported).
// 2. Sensitivity: each eligible tensor alone in each format (q4_0, q4_1, int8), all else float;
//    drop = float metric - metric.
// 3. Each tensor takes the smallest format whose drop alone is within max_drop (none: f32).
// 4. Combined: with every choice applied at once, while the drop exceeds max_drop, the tensor with
//    the largest drop alone moves up one format (q4_0 -> q4_1 -> int8 -> f32), and it is measured
//    again. This ends: at worst every tensor is back in f32, which is the float model.
#pragma once

#include <functional>
#include <ostream>
#include <vector>

#include "nn/module.h"
#include "quant/decisions.h"
#include "quant/eligibility.h"

namespace kiln::quant {

struct AutoResult {
  std::vector<TensorDecision> decisions;
  double float_metric = 0;
  double final_metric = 0;
  int evaluations = 0;
};

// `model` holds float weights (not packed); it is left as it was. `log` gets one line per step.
AutoResult choose_auto(nn::Module& model, const std::vector<Candidate>& candidates,
                       const std::function<double()>& measure, double max_drop, std::ostream& log);

// Puts `original` quantized to `format` into the layers of `names` (one tensor's names: several
// when tied), or restores the float weight when `format` is "" or "f32": the pass's trial of one
// tensor.
void set_trial_format(nn::Module& model, const std::vector<std::string>& names,
                      const Tensor& original, const std::string& format);

}  // namespace kiln::quant
