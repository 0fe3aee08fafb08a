// Plain (baseline x86-64) build of the stem pooling loops, and the run-time dispatch.
#include "core/kernels/maxpool3s2_rows.h"

#include "core/cpu_features.h"

#define KILN_MAXPOOL3S2_NS plain
#include "core/kernels/maxpool3s2_rows_impl.h"

namespace kiln::kernels {
void bn_relu_maxpool3s2_row(const float* y, int64_t h, int64_t w, int64_t channels,
                            const float* scale, const float* shift, int64_t oy, float* out,
                            int64_t ldo, uint8_t* arg) {
  (avx512_active() ? avx512::bn_relu_maxpool3s2_row : plain::bn_relu_maxpool3s2_row)(
      y, h, w, channels, scale, shift, oy, out, ldo, arg);
}

void maxpool3s2_grad_sums_row(const float* y, int64_t h, int64_t w, int64_t channels, int64_t oy,
                              const float* g, const uint8_t* arg, const float* mean,
                              const float* invstd, double* sum_g, double* sum_gx) {
  (avx512_active() ? avx512::maxpool3s2_grad_sums_row : plain::maxpool3s2_grad_sums_row)(
      y, h, w, channels, oy, g, arg, mean, invstd, sum_g, sum_gx);
}

void maxpool3s2_bn_backward_rows(const float* y, int64_t h, int64_t w, int64_t channels,
                                 const float* g, const uint8_t* arg, int64_t ya, int64_t yb,
                                 const StemNormGrad& coef, float* out) {
  (avx512_active() ? avx512::maxpool3s2_bn_backward_rows : plain::maxpool3s2_bn_backward_rows)(
      y, h, w, channels, g, arg, ya, yb, coef, out);
}

}  // namespace kiln::kernels
