// The f32 -> bf16 row loop of core/kernels/bf16_convert.h, included by the plain and the AVX-512
// translation units (each in its own namespace, KILN_BF16_NS). Integer operations only, so both
// builds give identical bits; the NaN case is a select the compiler if-converts, which keeps the
// loop vectorised (16 lanes in the AVX-512 build, 4 in the plain one).
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln::kernels::KILN_BF16_NS {
namespace {

// dst[i] = kiln::f32_to_bf16(src[i]): nearest even, NaN kept NaN (made quiet).
inline void f32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

}  // namespace
}  // namespace kiln::kernels::KILN_BF16_NS
