// Loop bodies of core/kernels/bn_relu_rows.h, included by the plain and the AVX-512 translation
// units, each inside its own namespace (KILN_BN_RELU_NS). Plain loops over the channels that the
// compiler vectorises; max via a comparison the compiler turns into vmaxps.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln::kernels::KILN_BN_RELU_NS {
namespace {

inline float relu1(float v) {
  return v > 0.0f ? v : 0.0f;
}

// kiln::f32_to_bf16 of a value that is not NaN (a ReLU's output never is: max(NaN, 0) is 0 here).
inline uint16_t bf16_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline void bn_relu_bf16_row(const float* __restrict x, const float* __restrict scale,
                             const float* __restrict shift, uint16_t* __restrict h, int64_t n) {
  for (int64_t c = 0; c < n; ++c) h[c] = bf16_bits(relu1(x[c] * scale[c] + shift[c]));
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

void bn_relu_rows_bf16(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out, int64_t ldo,
                       uint16_t* half, int64_t ldh) {
  for (int64_t r = 0; r < rows; ++r) {
    if (out) {
      bn_relu_rows(x + r * ldx, ldx, 1, channels, scale, shift, out + r * ldo, ldo);
      const float* __restrict o = out + r * ldo;
      uint16_t* __restrict h = half + r * ldh;
      for (int64_t c = 0; c < channels; ++c) h[c] = bf16_bits(o[c]);
    } else {
      bn_relu_bf16_row(x + r * ldx, scale, shift, half + r * ldh, channels);
    }
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
