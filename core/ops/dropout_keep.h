// The dropout keep decision shared by dropout() and the attention op's dropout on probabilities:
// element i of a call that reserved counters [start, start + n) is kept when
// u32_to_unit_float(word c & 3 of philox4x32(seed, 0, c >> 2)) >= p, with c = start + i. One
// Philox block serves 4 consecutive counters. Being a pure function of (seed, c), the mask is
// the same for any chunking or thread count and can be regenerated in a backward pass instead of
// being stored.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/kernels/philox_blocks.h"
#include "core/rng.h"

namespace kiln {

// Calls f(i, keep) for i in [0, n), keep deciding counter first + i. The Philox blocks come in
// runs of kRunBlocks from the vectorised kernel (core/kernels/philox_blocks.h): the same words as
// philox4x32, without its serial rounds per block.
template <class F>
inline void for_each_dropout_keep(uint64_t seed, uint64_t first, int64_t n, float p, F&& f) {
  constexpr uint64_t kRunBlocks = 64;
  std::array<uint32_t, 4 * kRunBlocks> words;
  int64_t i = 0;
  while (i < n) {
    const uint64_t c0 = first + static_cast<uint64_t>(i);
    const uint64_t block0 = c0 >> 2;
    // Counters left in this call, capped at the end of the run's last block.
    const uint64_t count =
        std::min<uint64_t>(static_cast<uint64_t>(n - i), kRunBlocks * 4 - (c0 & 3));
    const uint64_t blocks = ((c0 & 3) + count + 3) / 4;
    kernels::philox4x32_blocks(seed, 0, block0, static_cast<int64_t>(blocks), words.data());
    for (uint64_t j = 0; j < count; ++j, ++i) {
      f(i, u32_to_unit_float(words[(c0 & 3) + j]) >= p);
    }
  }
}

}  // namespace kiln
