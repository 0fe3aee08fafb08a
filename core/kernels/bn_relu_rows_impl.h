// Loop bodies of core/kernels/bn_relu_rows.h, included by the plain and the AVX-512 translation
// units, each inside its own namespace (KILN_BN_RELU_NS). Plain loops over the channels that the
// compiler vectorises; max via a comparison the compiler turns into vmaxps.
#pragma once

#include <cstdint>

namespace kiln::kernels::KILN_BN_RELU_NS {
namespace {

inline float relu1(float v) {
  return v > 0.0f ? v : 0.0f;
}

}  // namespace

void bn_relu_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels, const float* scale,
                  const float* shift, float* out, int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * ldx;
    float* __restrict o = out + r * ldo;
    for (int64_t c = 0; c < channels; ++c) o[c] = relu1(xr[c] * scale[c] + shift[c]);
  }
}

void bn_relu_avgpool2_rows(const float* x, int64_t ldx, int64_t h, int64_t w, int64_t channels,
                           const float* scale, const float* shift, int64_t o0, int64_t count,
                           float* out, int64_t ldo) {
  (void)h;
  const int64_t ow = w / 2;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t oy = (o0 + i) / ow, ox = (o0 + i) % ow;
    const float* __restrict p00 = x + ((2 * oy) * w + 2 * ox) * ldx;
    const float* __restrict p01 = p00 + ldx;
    const float* __restrict p10 = p00 + w * ldx;
    const float* __restrict p11 = p10 + ldx;
    float* __restrict o = out + i * ldo;
    for (int64_t c = 0; c < channels; ++c) {
      const float a = scale[c], s = shift[c];
      o[c] = (((relu1(p00[c] * a + s) + relu1(p01[c] * a + s)) + relu1(p10[c] * a + s)) +
              relu1(p11[c] * a + s)) *
             0.25f;
    }
  }
}

void bn_relu_mean_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out) {
  for (int64_t c = 0; c < channels; ++c) out[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * ldx;
    for (int64_t c = 0; c < channels; ++c) out[c] += relu1(xr[c] * scale[c] + shift[c]);
  }
  const float inv = rows > 0 ? 1.0f / static_cast<float>(rows) : 0.0f;
  for (int64_t c = 0; c < channels; ++c) out[c] *= inv;
}

void relu_f32(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = relu1(x[i]);
}

}  // namespace kiln::kernels::KILN_BN_RELU_NS
