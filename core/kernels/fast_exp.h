// exp(x) for x <= 0 in f32 without a libm call, so loops that use it vectorise: Cody-Waite range
// reduction and Cephes' degree-6 expf polynomial (max relative error 8e-8 on [-87, 0]); x below
// -87 (incl. -inf, e.g. a masked attention score) gives exactly 0. Selects are bit masks: a
// ternary or std::max would stop GCC from vectorising the loop.
//
// Internal linkage on purpose: this header is compiled into translation units built for different
// ISAs (plain and AVX-512); an inline function with external linkage would let the linker pick one
// ISA's copy for all of them.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln::kernels {
namespace {

inline float exp_nonpos(float x) {
  const int32_t keep = -static_cast<int32_t>(x >= -87.0f);  // all ones where x is in range
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

}  // namespace
}  // namespace kiln::kernels
