// Philox4x32-10 for a run of consecutive counters, the random source of dropout masks.
// Why a kernel: dropout asks for one Philox block per 4 elements, and evaluated one block at a
// time (philox4x32 in core/rng.cpp) its 10 rounds of 32x32->64-bit multiplies are a serial
// chain; it was 2% of a BERT-base training step. The AVX-512 path takes 16 blocks through the
// rounds side by side, 5.8x faster than one at a time (bench_philox_bench: 10M blocks in 16.6 vs
// 95.8 ms); the plain path calls philox4x32 per block. Integer arithmetic only: both give exactly
// philox4x32's words.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// out[4 * b + w] = philox4x32(key, counter_hi, counter_lo + b)[w] for b in [0, blocks); the low
// counter wraps modulo 2^64 as philox4x32's argument does. Dispatches on active_isa().
void philox4x32_blocks(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, int64_t blocks,
                       uint32_t* out);

// The individual paths, for tests.
void philox4x32_blocks_plain(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, int64_t blocks,
                             uint32_t* out);
void philox4x32_blocks_avx512(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
                              int64_t blocks, uint32_t* out);

}  // namespace kiln::kernels
