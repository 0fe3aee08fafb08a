#include "nn/densenet_train_rows.h"

#include <cmath>

#include "core/kernels/bn_rows_train.h"
#include "core/kernels/channels_last_transpose.h"
#include "nn/image_layers.h"

namespace kiln::nn {

void add_range_sums(const double* part, int64_t ranges, int64_t channels, double* a, double* b) {
  std::fill(a, a + channels, 0.0);
  std::fill(b, b + channels, 0.0);
  for (int64_t i = 0; i < ranges; ++i) {
    const double* pa = part + i * 2 * channels;
    for (int64_t c = 0; c < channels; ++c) a[c] += pa[c], b[c] += pa[channels + c];
  }
}

void sum_partials(const float* part, int64_t groups, int64_t n, float* out) {
  parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {  // each element's sum in group order
    std::copy(part + b, part + e, out + b);
    for (int64_t g = 1; g < groups; ++g)
      for (int64_t i = b; i < e; ++i) out[i] += part[g * n + i];
  });
}

void nchw_to_rows(const float* x, int64_t n, int64_t c, int64_t hw, float* rows, int64_t ld) {
  parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      kernels::planes_to_pixels(x + i * c * hw, hw, c, hw, rows + i * hw * ld, ld);
  });
}

void rows_to_nchw(const float* rows, int64_t ld, int64_t n, int64_t c, int64_t hw, float* x) {
  parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      kernels::pixels_to_planes(rows + i * hw * ld, ld, c, hw, nullptr, x + i * c * hw, hw);
  });
}

void compute_stats(const float* x, int64_t ld, int64_t rows, int64_t c0, int64_t c1, double eps,
                   Stats& s) {
  const int64_t nc = c1 - c0;
  std::vector<double> sum(static_cast<size_t>(nc)), unused(static_cast<size_t>(nc));
  // Two passes (the mean, then squares about it), as batch_norm_stats. (range_sums takes two
  // sums per pass; these passes use one.)
  for (const bool squares : {false, true}) {
    range_sums(
        rows, kSumRows, nc,
        [&](int64_t r0, int64_t m, double* pa, double*) {
          kernels::rows_channel_sums(x + r0 * ld + c0, ld, m, nc,
                                     squares ? s.mean.data() + c0 : nullptr, pa);
        },
        sum.data(), unused.data());
    for (int64_t c = 0; c < nc; ++c)
      (squares ? s.var : s.mean)[c0 + c] = static_cast<float>(sum[c] / static_cast<double>(rows));
  }
  for (int64_t c = c0; c < c1; ++c)
    s.invstd[c] = static_cast<float>(1.0 / std::sqrt(double(s.var[c]) + eps));
}

void affine(const Stats& s, const float* w, const float* b, int64_t c, std::vector<float>& scale,
            std::vector<float>& shift) {
  scale.resize(c), shift.resize(c);
  for (int64_t i = 0; i < c; ++i) {
    scale[i] = s.invstd[i] * w[i];
    shift[i] = b[i] - s.mean[i] * scale[i];
  }
}

bool plain_training_norm(const BatchNorm2d& bn, double eps) {
  return bn.training() && bn.eps == eps && bn.weight.defined() && bn.bias.defined() &&
         bn.weight.dtype() == DType::F32 && bn.running_mean.dtype() == DType::F32;
}

}  // namespace kiln::nn
