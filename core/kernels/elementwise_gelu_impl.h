// Loop bodies of core/kernels/elementwise_gelu.h, included by the plain and the AVX-512
// translation units (each in its own namespace). Selects use bit masks rather than ternaries so
// that GCC if-converts and vectorises every loop.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln::kernels::KILN_GELU_NS {
namespace {

// exp(x) for x <= 0; x below -87 (where f32 underflows) gives exactly 0.
inline float exp_nonpos(float x) {
  const int32_t keep = -static_cast<int32_t>(x >= -87.0f);
  const float xc = std::bit_cast<float>((std::bit_cast<int32_t>(x) & keep) |
                                        (std::bit_cast<int32_t>(-87.0f) & ~keep));
  const int32_t n = static_cast<int32_t>(xc * 1.44269504088896341f - 0.5f);
  const float fn = static_cast<float>(n);
  const float r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = (p * r * r + r + 1.0f) * std::bit_cast<float>((n + 127) << 23);
  return std::bit_cast<float>(std::bit_cast<int32_t>(y) & keep);
}

// Phi(x), the standard normal CDF; `e` receives exp(-x^2 / 2) for the backward.
inline float normal_cdf(float x, float& e) {
  const float a = std::bit_cast<float>(std::bit_cast<int32_t>(x) & 0x7fffffff);
  const float u = 1.0f / (1.0f + 0.5f * a);
  // Weighted least-squares fit from bench/bert/fit_gelu.py; Horner from the top coefficient.
  float g = -0.042375348508358f;
  g = g * u + 0.2827606499195099f;
  g = g * u - 0.8003177046775818f;
  g = g * u + 1.2064118385314941f;
  g = g * u - 0.9559736251831055f;
  g = g * u + 0.2933381497859955f;
  g = g * u - 0.0482155978679657f;
  g = g * u + 0.1673160344362259f;
  g = g * u + 0.1974579244852066f;
  g = g * u + 0.19960132241249084f;
  g = g * u - 3.637593636085512e-06f;
  e = exp_nonpos(-0.5f * a * a);
  const float q = e * g;
  const int32_t neg = std::bit_cast<int32_t>(x) >> 31;  // all ones for x < 0 (and -0)
  return std::bit_cast<float>((std::bit_cast<int32_t>(q) & neg) |
                              (std::bit_cast<int32_t>(1.0f - q) & ~neg));
}

}  // namespace

void gelu_loop(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float e;
    out[i] = x[i] * normal_cdf(x[i], e);
  }
}

void gelu_backward_loop(const float* g, const float* x, float* dx, int64_t n) {
  constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
  for (int64_t i = 0; i < n; ++i) {
    float e;
    const float cdf = normal_cdf(x[i], e);
    dx[i] = g[i] * (cdf + x[i] * kInvSqrt2Pi * e);
  }
}

}  // namespace kiln::kernels::KILN_GELU_NS
