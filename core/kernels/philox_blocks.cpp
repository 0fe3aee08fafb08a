// Plain path of the Philox block run (one philox4x32 call per block, the reference the AVX-512
// path is tested against) and the run-time dispatch between paths.
#include "core/kernels/philox_blocks.h"

#include <array>

#include "core/cpu_features.h"
#include "core/rng.h"

namespace kiln::kernels {

void philox4x32_blocks_plain(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, int64_t blocks,
                             uint32_t* out) {
  for (int64_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> w =
        philox4x32(key, counter_hi, counter_lo + static_cast<uint64_t>(b));
    for (int i = 0; i < 4; ++i) out[4 * b + i] = w[i];
  }
}

void philox4x32_blocks(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, int64_t blocks,
                       uint32_t* out) {
  if (active_isa() == IsaLevel::kAvx512) {
    philox4x32_blocks_avx512(key, counter_hi, counter_lo, blocks, out);
  } else {
    philox4x32_blocks_plain(key, counter_hi, counter_lo, blocks, out);
  }
}

}  // namespace kiln::kernels
