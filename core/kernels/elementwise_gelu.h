// Exact (erf) GELU for f32 arrays, forward and backward, as tight loops the compiler vectorises.
// Why not std::erf: a libm call per element kept the FFN activation at ~15% of a BERT-base
// forward (8 x 128); these loops run 16 lanes wide in the AVX-512 build.
// Maths: Phi(x) = 1 - Q(|x|) for x >= 0 and Q(|x|) for x < 0, where Q(a) = erfc(a / sqrt 2) / 2 =
// exp(-a^2 / 2) * G(u), u = 1 / (1 + a / 2), and G is a degree-10 polynomial fitted to
// Q(a) exp(a^2 / 2) on a in [0, 14] (relative error of Q below 3e-7 in f32 evaluation, so the tail
// x << 0 keeps its relative accuracy instead of cancelling in 1 + erf). The exponential is the
// same range-reduced polynomial as the attention softmax's.
//   gelu(x) = x Phi(x);  gelu'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
// The AVX-512 build lets GCC contract a*b+c into FMAs (the plain build cannot), so the two paths
// may differ in the last bit; within one path an element's result does not depend on whether it
// falls in the vector body or the remainder loop, which keeps results independent of how threads
// split the array. tests/core/perf_paths_test.cpp checks accuracy, both paths and that property.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// out[i] = gelu(x[i]). Dispatches on active_isa().
void gelu_f32(const float* x, float* out, int64_t n);
// dx[i] = g[i] * gelu'(x[i]). Dispatches on active_isa().
void gelu_backward_f32(const float* g, const float* x, float* dx, int64_t n);

// The individual paths, for tests.
void gelu_f32_plain(const float* x, float* out, int64_t n);
void gelu_backward_f32_plain(const float* g, const float* x, float* dx, int64_t n);
void gelu_f32_avx512(const float* x, float* out, int64_t n);
void gelu_backward_f32_avx512(const float* g, const float* x, float* dx, int64_t n);

}  // namespace kiln::kernels
