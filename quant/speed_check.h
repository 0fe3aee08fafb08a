// The "never slower" rule of `kiln quantize`: after the formats are chosen (by --scheme or by
// auto's accuracy budget), each distinct Linear weight shape is timed on this machine as a float
// GEMM and in its chosen quantized format (quant/shape_benchmark.h), and a tensor whose float GEMM
// is clearly faster goes back to float. Falling back to float never costs accuracy, so auto's
// budget still holds afterwards.
//
// On by default for int8: int8 is chosen for speed, and a user should never get a slower model
// from it. 4-bit formats are chosen for size (memory, download), so they are checked only when
// asked (SpeedCheck::All). The decision depends on the machine and its load, so a file that must
// be reproducible bit for bit is made with the check off.
//
// Ties keep the quantized format: float must be faster by more than `tie_margin` (a fraction of
// the quantized time). Medians of interleaved samples move by a few percent on a busy machine;
// without the margin a shape where both are about equal would flip between runs.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/quant_format.h"
#include "quant/decisions.h"
#include "quant/shape_benchmark.h"

namespace kiln::quant {

enum class SpeedCheck {
  Off,   // no timing: every decision stays as chosen
  Int8,  // int8 decisions only (the default)
  All,   // int8, q4_0 and q4_1 decisions
};

struct SpeedCheckOptions {
  SpeedCheck scope = SpeedCheck::Int8;
  int64_t rows = 128;        // rows of the timed GEMMs: tokens per forward pass
  double tie_margin = 0.05;  // float must be faster than quantized by more than this fraction
};

// Times one shape: rows x k activations, an n x k weight, in `format` and in float.
using ShapeTimer = std::function<ShapeTiming(int64_t rows, int64_t n, int64_t k, Format format)>;

// True when float's time beats the quantized time by more than the tie margin.
bool float_is_faster(const ShapeTiming& t, double tie_margin);

// Applies the rule to `decisions` in place, timing each distinct (n, k, format) once with
// `timer`: a decision that goes back to float gets format "f32" and a reason naming both times
// (its old reason kept after "was:"); one that stays gets its times appended to its reason.
// Returns one record per timed (shape, format) for the file's metadata.
nlohmann::json apply_speed_check(std::vector<TensorDecision>& decisions,
                                 const SpeedCheckOptions& options, const ShapeTimer& timer);

}  // namespace kiln::quant
