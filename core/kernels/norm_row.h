// One row of the f32 layer_norm / rms_norm forward (core/ops/norm.cpp), the inner loop of every
// transformer layer's two normalisations.
// Why a kernel: written in norm.cpp (built for baseline x86-64) the f64 row statistics ran two
// doubles per instruction; LayerNorm was 6% of a BERT-base int8 forward at 8 x 128 (perf). Here
// the sums keep kLanes (16) independent f64 partials, lane l taking the elements j with
// j % 16 == l, combined pairwise in a fixed order, so they vectorise in both builds and the
// statistics depend only on the row, not on the ISA.
// Semantics: layer_norm: mean = sum(x) / d (f64, rounded to f32), var = sum((x - mean)^2) / d
// with x - mean in f32 and its square summed in f64, rstd = 1 / sqrt(var + eps) in double rounded
// to f32, y = (x - mean) * rstd * w + b (w, b optional). rms_norm: mean = 0, var = sum(x^2) / d.
// The AVX-512 build lets GCC contract the last line into FMAs, so the two paths may differ in the
// last bit of y (tests/core/perf_paths_test.cpp checks both against a double reference).
#pragma once

#include <cstdint>

namespace kiln::kernels {

struct NormRowStats {
  float mean, rstd;
};

// Dispatches on active_isa().
NormRowStats norm_row_f32(const float* x, const float* w, const float* b, float* y, int64_t d,
                          double eps, bool rms);

// The individual paths, for tests.
NormRowStats norm_row_f32_plain(const float* x, const float* w, const float* b, float* y, int64_t d,
                                double eps, bool rms);
NormRowStats norm_row_f32_avx512(const float* x, const float* w, const float* b, float* y,
                                 int64_t d, double eps, bool rms);

}  // namespace kiln::kernels
