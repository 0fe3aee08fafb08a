// Plain (baseline x86-64) build of the channels-last batch norm + ReLU loops, and the run-time
// dispatch between paths.
#include "core/kernels/bn_relu_rows.h"

#include "core/cpu_features.h"

#define KILN_BN_RELU_NS plain
#include "core/kernels/bn_relu_rows_impl.h"

namespace kiln::kernels {
void bn_relu_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels, const float* scale,
                  const float* shift, float* out, int64_t ldo) {
  (avx512_active() ? avx512::bn_relu_rows : plain::bn_relu_rows)(x, ldx, rows, channels, scale,
                                                                 shift, out, ldo);
}

void bn_relu_rows_bf16(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out, int64_t ldo,
                       uint16_t* half, int64_t ldh) {
  (avx512_active() ? avx512::bn_relu_rows_bf16 : plain::bn_relu_rows_bf16)(
      x, ldx, rows, channels, scale, shift, out, ldo, half, ldh);
}

void bn_relu_avgpool2_rows(const float* x, int64_t ldx, int64_t h, int64_t w, int64_t channels,
                           const float* scale, const float* shift, int64_t o0, int64_t count,
                           float* out, int64_t ldo) {
  (avx512_active() ? avx512::bn_relu_avgpool2_rows : plain::bn_relu_avgpool2_rows)(
      x, ldx, h, w, channels, scale, shift, o0, count, out, ldo);
}

void bn_relu_mean_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out) {
  (avx512_active() ? avx512::bn_relu_mean_rows : plain::bn_relu_mean_rows)(x, ldx, rows, channels,
                                                                           scale, shift, out);
}

void relu_f32(const float* x, float* out, int64_t n) {
  (avx512_active() ? avx512::relu_f32 : plain::relu_f32)(x, out, n);
}

}  // namespace kiln::kernels
