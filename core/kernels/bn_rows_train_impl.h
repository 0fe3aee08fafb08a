// Loop bodies of core/kernels/bn_rows_train.h, included by the plain and the AVX-512 translation
// units, each inside its own namespace (KILN_BN_ROWS_TRAIN_NS). Row-major loops that the compiler
// vectorises across a row's channels; each channel's sum runs over the rows in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::kernels::KILN_BN_ROWS_TRAIN_NS {
namespace {

// One row's loops. Functions of their own because GCC honours __restrict on parameters (it
// then vectorises without run-time alias checks, of which these loops would need too many);
// every array is loaded whatever the mask, so the selects vectorise too.
inline void masked_sums_row(const float* __restrict g, const float* __restrict y,
                            const float* __restrict x, const float* __restrict mu,
                            const float* __restrict is, float* __restrict a, float* __restrict b,
                            int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const float gv = g[c], xhat = (x[c] - mu[c]) * is[c];
    const float gm = y[c] > 0.0f ? gv : 0.0f;
    a[c] += gm;
    b[c] += gm * xhat;
  }
}

inline void add_masked_scaled_row(const float* __restrict g, const float* __restrict y,
                                  const float* __restrict k, float* __restrict d, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const float v = k[c] * g[c];
    d[c] += y[c] > 0.0f ? v : 0.0f;
  }
}

inline void bn_relu_grad_row(float* __restrict g, const float* __restrict y,
                             const float* __restrict x, const float* __restrict mu,
                             const float* __restrict is, const float* __restrict k,
                             const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const float gv = g[c], xhat = (x[c] - mu[c]) * is[c];
    const float gm = y[c] > 0.0f ? gv : 0.0f;
    g[c] = k[c] * (gm - a[c] - xhat * b[c]);
  }
}

inline void sub_affine_row(const float* __restrict x, const float* __restrict mu,
                           const float* __restrict is, const float* __restrict a,
                           const float* __restrict b, float* __restrict d, int64_t n) {
  for (int64_t c = 0; c < n; ++c) d[c] -= a[c] + b[c] * ((x[c] - mu[c]) * is[c]);
}

}  // namespace

void rows_channel_sums(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* mean, double* sum) {
  double* __restrict s = sum;
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict p = x + r * ldx;
    if (!mean) {
      for (int64_t c = 0; c < channels; ++c) s[c] += p[c];
    } else {
      for (int64_t c = 0; c < channels; ++c) {
        const double d = static_cast<double>(p[c]) - mean[c];
        s[c] += d * d;
      }
    }
  }
}

void rows_bn_relu_backward_part(const float* g, int64_t ldg, const float* y, int64_t ldy,
                                const float* x, int64_t ldx, int64_t rows, int64_t channels,
                                const float* mean, const float* invstd, const float* k, float* dst,
                                int64_t ldd, double* sum_g, double* sum_gx) {
  // The call's rows are summed in f32 (a loop GCC vectorises; f64 accumulators with the mask it
  // left scalar) and added to the f64 sums once: callers pass ranges of at most a few hundred
  // rows.
  thread_local std::vector<float> acc;
  if (acc.size() < static_cast<size_t>(2 * channels)) acc.resize(static_cast<size_t>(2 * channels));
  float* a = acc.data();
  float* b = acc.data() + channels;
  const float* mu = mean;
  const float* is = invstd;
  for (int64_t c = 0; c < channels; ++c) a[c] = 0.0f, b[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    masked_sums_row(g + r * ldg, y + r * ldy, x + r * ldx, mu, is, a, b, channels);
    if (dst) add_masked_scaled_row(g + r * ldg, y + r * ldy, k, dst + r * ldd, channels);
  }
  for (int64_t c = 0; c < channels; ++c) sum_g[c] += a[c], sum_gx[c] += b[c];
}

void rows_bn_relu_grad(float* g, int64_t ldg, const float* y, int64_t ldy, const float* x,
                       int64_t ldx, int64_t rows, int64_t channels, const float* mean,
                       const float* invstd, const float* k, const float* a, const float* b) {
  for (int64_t r = 0; r < rows; ++r)
    bn_relu_grad_row(g + r * ldg, y + r * ldy, x + r * ldx, mean, invstd, k, a, b, channels);
}

void rows_sub_affine_of_xhat(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                             const float* mean, const float* invstd, const float* a, const float* b,
                             float* dst, int64_t ldd) {
  for (int64_t r = 0; r < rows; ++r)
    sub_affine_row(x + r * ldx, mean, invstd, a, b, dst + r * ldd, channels);
}

}  // namespace kiln::kernels::KILN_BN_ROWS_TRAIN_NS
