#include "core/rng.h"

#include <cmath>

namespace kiln {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

// Element i of a stream takes word (i % 4) of block (i / 4), so consecutive elements share one
// Philox evaluation when callers iterate in order, yet any i is computable alone.
uint32_t Generator::u32_at(uint64_t seed, uint64_t i) {
  return philox4x32(seed, 0, i >> 2)[i & 3];
}

float Generator::uniform_at(uint64_t seed, uint64_t i) {
  return u32_to_unit_float(u32_at(seed, i));
}

double Generator::uniform64_at(uint64_t seed, uint64_t i) {
  const auto b = philox4x32(seed, 1, i);
  return u64_to_unit_double((static_cast<uint64_t>(b[0]) << 32) | b[1]);
}

double Generator::normal_at(uint64_t seed, uint64_t i) {
  // Box-Muller on two 53-bit uniforms from a block of its own (counter_hi = 2).
  const auto b = philox4x32(seed, 2, i);
  const double u1 = 1.0 - u64_to_unit_double((static_cast<uint64_t>(b[0]) << 32) | b[1]);  // (0,1]
  const double u2 = u64_to_unit_double((static_cast<uint64_t>(b[2]) << 32) | b[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace kiln
