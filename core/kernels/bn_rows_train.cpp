// Plain (baseline x86-64) build of the channels-last training batch norm loops, and the run-time
// dispatch between builds.
#include "core/kernels/bn_rows_train.h"

#include "core/cpu_features.h"

#define KILN_BN_ROWS_TRAIN_NS plain
#include "core/kernels/bn_rows_train_impl.h"

namespace kiln::kernels {
void rows_channel_sums(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* mean, double* sum) {
  (avx512_active() ? avx512::rows_channel_sums : plain::rows_channel_sums)(x, ldx, rows, channels,
                                                                           mean, sum);
}

void rows_bn_relu_backward_part(const float* g, int64_t ldg, const float* y, int64_t ldy,
                                const float* x, int64_t ldx, int64_t rows, int64_t channels,
                                const float* mean, const float* invstd, const float* k, float* dst,
                                int64_t ldd, double* sum_g, double* sum_gx) {
  (avx512_active() ? avx512::rows_bn_relu_backward_part : plain::rows_bn_relu_backward_part)(
      g, ldg, y, ldy, x, ldx, rows, channels, mean, invstd, k, dst, ldd, sum_g, sum_gx);
}

void rows_bn_relu_grad(float* g, int64_t ldg, const float* y, int64_t ldy, const float* x,
                       int64_t ldx, int64_t rows, int64_t channels, const float* mean,
                       const float* invstd, const float* k, const float* a, const float* b) {
  (avx512_active() ? avx512::rows_bn_relu_grad : plain::rows_bn_relu_grad)(
      g, ldg, y, ldy, x, ldx, rows, channels, mean, invstd, k, a, b);
}

void rows_sub_affine_of_xhat(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                             const float* mean, const float* invstd, const float* a, const float* b,
                             float* dst, int64_t ldd) {
  (avx512_active() ? avx512::rows_sub_affine_of_xhat : plain::rows_sub_affine_of_xhat)(
      x, ldx, rows, channels, mean, invstd, a, b, dst, ldd);
}

}  // namespace kiln::kernels
