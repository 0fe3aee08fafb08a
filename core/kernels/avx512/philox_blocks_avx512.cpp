// AVX-512 Philox block loop (this directory is compiled with -mavx512f etc.); only reached through
// the dispatch in core/kernels/philox_blocks.cpp when active_isa() is avx512. Written with
// intrinsics because GCC fully unrolls a plain 16-lane loop before it would vectorise it (measured:
// no faster than one philox4x32 per block). 16 blocks per iteration, one 32-bit lane each; a
// 32x32->64-bit product is vpmulld for the low word and two vpmuludq (even and odd lanes) for the
// high word.
#include <immintrin.h>

#include <cstring>

// GCC 12 warns that the _mm512_undefined_epi32() pass-through inside _mm512_mul_epu32 and
// _mm512_srli_epi64 "may be used uninitialized" (a false positive in its own header).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "core/kernels/philox_blocks.h"

namespace kiln::kernels {
namespace {

// High 32 bits of the unsigned products a[l] * b[l] for 16 lanes.
inline __m512i mulhi_epu32(__m512i a, __m512i b) {
  const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(a, b), 32);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
  return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

inline __m512i xor3(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi32(a, b, c, 0x96);
}

}  // namespace

void philox4x32_blocks_avx512(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
                              int64_t blocks, uint32_t* out) {
  const __m512i mul0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i mul1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i hi0 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(counter_hi)));
  const __m512i hi1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(counter_hi >> 32)));
  for (int64_t b0 = 0; b0 < blocks; b0 += 16) {
    // Counter words of blocks b0 .. b0 + 15: the low word plus the lane, carrying into the next.
    const uint64_t base = counter_lo + static_cast<uint64_t>(b0);
    const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base)));
    __m512i c0 = _mm512_add_epi32(base_lo, lane);
    const __mmask16 carry = _mm512_cmplt_epu32_mask(c0, base_lo);
    const __m512i base_hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base >> 32)));
    __m512i c1 = _mm512_mask_add_epi32(base_hi, carry, base_hi, _mm512_set1_epi32(1));
    __m512i c2 = hi0, c3 = hi1;
    uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m512i lo0 = _mm512_mullo_epi32(c0, mul0), h0 = mulhi_epu32(c0, mul0);
      const __m512i lo1 = _mm512_mullo_epi32(c2, mul1), h1 = mulhi_epu32(c2, mul1);
      c0 = xor3(h1, c1, _mm512_set1_epi32(static_cast<int>(k0)));
      c2 = xor3(h0, c3, _mm512_set1_epi32(static_cast<int>(k1)));
      c1 = lo1;
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // 4 x 16 words -> 16 blocks of 4 consecutive words: interleave within 128-bit lanes, then
    // transpose the 4 x 4 grid of 128-bit lanes.
    const __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    const __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
    const __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    const __m512i o[4] = {_mm512_shuffle_i32x4(v0, v1, 0x88), _mm512_shuffle_i32x4(v0, v1, 0xDD),
                          _mm512_shuffle_i32x4(v2, v3, 0x88), _mm512_shuffle_i32x4(v2, v3, 0xDD)};
    const int64_t n = blocks - b0 < 16 ? blocks - b0 : 16;
    uint32_t* dst = out + 4 * b0;
    if (n == 16) {
      for (int q = 0; q < 4; ++q) _mm512_storeu_si512(dst + 16 * q, o[q]);
    } else {
      alignas(64) uint32_t tmp[64];
      for (int q = 0; q < 4; ++q) _mm512_store_si512(tmp + 16 * q, o[q]);
      std::memcpy(dst, tmp, static_cast<size_t>(4 * n) * sizeof(uint32_t));
    }
  }
}

}  // namespace kiln::kernels
