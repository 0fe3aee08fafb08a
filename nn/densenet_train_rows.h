// Channels-last row helpers shared by DenseNet's fused training ops (nn/densenet_block_train,
// nn/densenet_stem_train): a feature map as rows [pixels, channels] (a row = one pixel), its
// per-channel batch statistics, and sums taken so that they depend on the shapes only, never on
// the thread count (fixed ranges summed apart in parallel, then added in order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln::nn {

class BatchNorm2d;

// Rows per range of the per-channel sums.
constexpr int64_t kSumRows = 256;

inline const float* cf(const Tensor& t) {
  return t.data<float>();
}

// a[c], b[c] = the sums over `ranges` ranges' partial sums, laid out [range][2][channels], added
// range by range in order.
void add_range_sums(const double* part, int64_t ranges, int64_t channels, double* a, double* b);

// Two per-channel sums a[c], b[c] over `units` units (rows, or image rows of a grid) taken per
// range of `per_range` units: fn(u0, count, pa, pb) adds the range's sums into pa and pb (zeroed).
template <class Fn>
void range_sums(int64_t units, int64_t per_range, int64_t channels, Fn fn, double* a, double* b) {
  const int64_t ranges = (units + per_range - 1) / per_range;
  std::vector<double> part(static_cast<size_t>(ranges * 2 * channels), 0.0);
  parallel_for(0, ranges, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      double* pa = part.data() + i * 2 * channels;
      fn(i * per_range, std::min(per_range, units - i * per_range), pa, pa + channels);
    }
  });
  add_range_sums(part.data(), ranges, channels, a, b);
}

// out[i] = sum over `groups` partials part[g * n + i] (g in order): fixed groups' weight
// gradients, added so that the result depends on the shapes only.
void sum_partials(const float* part, int64_t groups, int64_t n, float* out);

// fn(r0, count) over row chunks of about 64K floats of `width` channels, in parallel.
template <class Fn>
void over_rows(int64_t rows, int64_t width, Fn fn) {
  const int64_t rc = std::clamp<int64_t>(65536 / std::max<int64_t>(width, 1), 16, 1024);
  parallel_for(0, (rows + rc - 1) / rc, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i * rc, std::min(rc, rows - i * rc));
  });
}

// NCHW [n, c, hw] <-> rows [n * hw, ld] (channels [0, c) of each row).
void nchw_to_rows(const float* x, int64_t n, int64_t c, int64_t hw, float* rows, int64_t ld);
void rows_to_nchw(const float* rows, int64_t ld, int64_t n, int64_t c, int64_t hw, float* x);

// Per-channel batch statistics: mean, var (biased) and invstd = 1 / sqrt(var + eps) in f32, as
// batch_norm computes them.
struct Stats {
  std::vector<float> mean, var, invstd;
  explicit Stats(int64_t c = 0) : mean(c), var(c), invstd(c) {}
};
// Channels [c0, c1) of `rows` rows of x (ld apart), into s (sized for c1 channels at least).
void compute_stats(const float* x, int64_t ld, int64_t rows, int64_t c0, int64_t c1, double eps,
                   Stats& s);

// The norm as y = x * scale + shift (scale = invstd * w, shift = b - mean * scale).
void affine(const Stats& s, const float* w, const float* b, int64_t c, std::vector<float>& scale,
            std::vector<float>& shift);

// A batch norm a fused op normalises itself: training mode, the given eps, f32 affine parameters
// and running statistics.
bool plain_training_norm(const BatchNorm2d& bn, double eps);

}  // namespace kiln::nn
