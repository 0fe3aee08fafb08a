// The dropout keep decision shared by dropout() and the attention op's dropout on probabilities:
// element i of a call that reserved counters [start, start + n) is kept when
// u32_to_unit_float(word c & 3 of philox4x32(seed, 0, c >> 2)) >= p, with c = start + i. One
// Philox block serves 4 consecutive counters. Being a pure function of (seed, c), the mask is
// the same for any chunking or thread count and can be regenerated in a backward pass instead of
// being stored.
#pragma once

#include <array>
#include <cstdint>

#include "core/rng.h"

namespace kiln {

// Calls f(i, keep) for i in [0, n), keep deciding counter first + i.
template <class F>
inline void for_each_dropout_keep(uint64_t seed, uint64_t first, int64_t n, float p, F&& f) {
  std::array<uint32_t, 4> block{};
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t c = first + static_cast<uint64_t>(i);
    if (i == 0 || (c & 3) == 0) block = philox4x32(seed, 0, c >> 2);
    f(i, u32_to_unit_float(block[c & 3]) >= p);
  }
}

}  // namespace kiln
