// Training-mode batch norm pieces on channels-last rows ([rows, ld], a row = one pixel, channels
// [0, channels) of each row), for the fused DenseNet block (nn/densenet_block_train.h). Each
// takes a range of rows and adds that range's per-channel sums to f64 accumulators (callers split
// the rows at fixed, shape-determined boundaries and add the ranges' sums in order, so results do
// not depend on the thread count). Plain and AVX-512 builds (the latter lets GCC contract to FMA,
// so the two may differ in the last bits).
#pragma once

#include <cstdint>

namespace kiln::kernels {

// Without `mean`: sum[c] += sum over the rows of x[r, c]. With it: sum[c] += sum over the rows of
// (x[r, c] - mean[c])^2. Batch statistics take both calls, the mean first (two passes, for
// accuracy).
void rows_channel_sums(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* mean, double* sum);

// Batch norm + ReLU backward, the parts of one row range: with gm = g where y > 0 (y the norm +
// ReLU output) and 0 elsewhere, xhat = (x - mean) * invstd:
//   sum_g[c] += sum gm, sum_gx[c] += sum gm * xhat (the call's rows summed in f32, then added);
//   where dst is given, dst[r, c] += k[c] * gm (the per-element part of the input gradient).
void rows_bn_relu_backward_part(const float* g, int64_t ldg, const float* y, int64_t ldy,
                                const float* x, int64_t ldx, int64_t rows, int64_t channels,
                                const float* mean, const float* invstd, const float* k, float* dst,
                                int64_t ldd, double* sum_g, double* sum_gx);

// In place over g: g = k[c] * (gm - a[c] - xhat * b[c]) (the full input gradient, with
// k = w * invstd, a = mean of gm, b = mean of gm * xhat).
void rows_bn_relu_grad(float* g, int64_t ldg, const float* y, int64_t ldy, const float* x,
                       int64_t ldx, int64_t rows, int64_t channels, const float* mean,
                       const float* invstd, const float* k, const float* a, const float* b);

// dst[r, c] -= a[c] + b[c] * (x[r, c] - mean[c]) * invstd[c]: the parts of batch norm's input
// gradient that depend on the batch sums, gathered over every norm that read channel c (a
// DenseNet block's channel feeds each later layer's norm1, all with the same batch statistics).
void rows_sub_affine_of_xhat(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                             const float* mean, const float* invstd, const float* a, const float* b,
                             float* dst, int64_t ldd);

// The individual builds, for tests (each with the signatures above).
#define KILN_BN_ROWS_TRAIN_DECLS                                                                 \
  void rows_channel_sums(const float*, int64_t, int64_t, int64_t, const float*, double*);        \
  void rows_bn_relu_backward_part(const float*, int64_t, const float*, int64_t, const float*,    \
                                  int64_t, int64_t, int64_t, const float*, const float*,         \
                                  const float*, float*, int64_t, double*, double*);              \
  void rows_bn_relu_grad(float*, int64_t, const float*, int64_t, const float*, int64_t, int64_t, \
                         int64_t, const float*, const float*, const float*, const float*,        \
                         const float*);                                                          \
  void rows_sub_affine_of_xhat(const float*, int64_t, int64_t, int64_t, const float*,            \
                               const float*, const float*, const float*, float*, int64_t);
namespace plain {
KILN_BN_ROWS_TRAIN_DECLS
}  // namespace plain
namespace avx512 {
KILN_BN_ROWS_TRAIN_DECLS
}  // namespace avx512
#undef KILN_BN_ROWS_TRAIN_DECLS

}  // namespace kiln::kernels
