// Loop bodies of core/kernels/elementwise_gelu.h, included by the plain and the AVX-512
// translation units (each in its own namespace). Selects use bit masks rather than ternaries so
// that GCC if-converts and vectorises every loop.
#pragma once

#include <bit>
#include <cstdint>

#include "core/kernels/fast_exp.h"

namespace kiln::kernels::KILN_GELU_NS {
namespace {

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
