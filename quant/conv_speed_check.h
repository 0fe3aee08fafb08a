// The "never slower" rule for convolutions. A Linear's cost is one GEMM whose shape the weight
// fixes, so quant/speed_check.h times each Linear shape alone. A convolution's cost is not: its
// rows are output pixels (they depend on the image size and the layer's place in the network),
// and kiln's inference engines run float and quantized convolutions differently (DenseNet's
// channels-last engine reads a 3x3 conv's input in place in float but gathers and quantizes its
// receptive fields in int8; nn/densenet_inference.h). So convolutions are judged where they run:
// the whole model's forward on example inputs, timed with the chosen formats and with groups of
// convolutions (by kernel size: "1x1", "3x3", ...) back in float. The fastest arrangement wins;
// as for Linears, float must beat the quantized arrangement by more than the tie margin.
//
// Every arrangement is timed in every round, the order rotating from round to round, and the
// median per arrangement is compared, so that a neighbour's burst of load hits all of them alike.
// With more than kMaxConvGroups kernel sizes the groups merge into one ("all").
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "quant/decisions.h"
#include "quant/speed_check.h"

namespace kiln::quant {

inline constexpr size_t kMaxConvGroups = 3;

// Milliseconds of one forward of the model with `decisions` applied.
using ForwardTimer = std::function<double(const std::vector<TensorDecision>& decisions)>;

// Applies the rule to the conv decisions in `options.scope` in place. Decisions that go back to
// float get format "f32" and a reason naming both timings (the old reason after "was:"); the ones
// that stay get the timings appended. `rounds` >= 1 timings per arrangement. Returns the record
// for the file's metadata (null when no convolution is in scope).
nlohmann::json apply_conv_speed_check(std::vector<TensorDecision>& decisions,
                                      const SpeedCheckOptions& options, int rounds,
                                      const ForwardTimer& time_forward);

}  // namespace kiln::quant
