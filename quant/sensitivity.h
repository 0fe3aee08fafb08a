// --scheme auto: per-layer sensitivity on calibration data and a greedy choice of the smallest
// format per tensor that keeps the task metric within an accuracy budget of the float model.
//
// 1. The float model's metric (`measure`, in points: accuracy x100, ROUGE as reported).
// 2. Sensitivity: each eligible tensor alone in each candidate format (by default q4_0, q4_1 and
//    int8; `--auto-formats int8` gives int8 with the sensitive tensors kept in float), all else
//    float; drop = float metric - metric.
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

// The formats auto may choose, smallest first.
const std::vector<std::string>& auto_formats_all();
// A comma list of those formats (any order, no repeats), smallest first; throws an Error that
// names `what` otherwise.
std::vector<std::string> parse_auto_formats(const std::string& list, const std::string& what);

// `model` holds float weights (not packed); it is left as it was. `log` gets one line per step.
// `formats`: the candidate formats, smallest first (auto_formats_all() or parse_auto_formats).
AutoResult choose_auto(nn::Module& model, const std::vector<Candidate>& candidates,
                       const std::function<double()>& measure, double max_drop, std::ostream& log,
                       const std::vector<std::string>& formats = auto_formats_all());

// Puts `original` quantized to `format` into the layers of `names` (one tensor's names: several
// when tied), or restores the float weight when `format` is "" or "f32": the pass's trial of one
// tensor.
void set_trial_format(nn::Module& model, const std::vector<std::string>& names,
                      const Tensor& original, const std::string& format);

}  // namespace kiln::quant
