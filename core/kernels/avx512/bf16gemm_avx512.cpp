// bf16 x bf16 -> f32 GEMM building blocks with AVX512_BF16 (vdpbf16ps). Same 8 x 48 tile and
// driver as the f32 kernel; k is packed in pairs because vdpbf16ps multiplies two adjacent bf16
// values per 32-bit lane and adds both products to an f32 accumulator. Layouts: see
// core/kernels/sgemm_kernels.h with kstep = 2.
#include <immintrin.h>

#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/sgemm_kernels.h"

namespace kiln::gemm::avx512 {
namespace {

constexpr int64_t kMr = 8;
constexpr int64_t kNr = 48;

inline __mmask32 first_n32(int64_t n) {
  return n >= 32 ? 0xffffffffu : n <= 0 ? 0u : static_cast<__mmask32>((1u << n) - 1);
}

// Interleaves n (<= 16) bf16 values of two rows: out[2l] = r0[l], out[2l+1] = r1[l]; r1 may be
// null (past the end of k), giving zeros. Missing columns come out as zeros.
inline __m512i interleave_rows(const uint16_t* r0, const uint16_t* r1, int64_t n) {
  const __mmask16 mask = first_n(n);
  const __m512i a = _mm512_zextsi256_si512(_mm256_maskz_loadu_epi16(mask, r0));
  const __m512i b =
      r1 ? _mm512_zextsi256_si512(_mm256_maskz_loadu_epi16(mask, r1)) : _mm512_setzero_si512();
  alignas(64) static const uint16_t idx_values[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,
                                                      37, 6,  38, 7,  39, 8,  40, 9,  41, 10, 42,
                                                      11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  const __m512i idx = _mm512_load_si512(idx_values);
  return _mm512_permutex2var_epi16(a, idx, b);
}

// Rows contiguous along k: each (k, k+1) pair is one 32-bit value, so packing is a 32-bit
// transpose of up to 16 rows x 16 pairs. r[t] gets pair t of every row.
inline void load_pairs_transposed(const uint16_t* src, int64_t ld, int64_t nrows, int64_t nk,
                                  __m512 r[16]) {
  const __mmask32 mask = first_n32(nk);
  for (int i = 0; i < 16; ++i) {
    r[i] = i < nrows ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(mask, src + i * ld))
                     : _mm512_setzero_ps();
  }
  transpose16(r);
}

void pack_a(bool trans_a, const uint16_t* a, int64_t lda, int64_t m, int64_t kc, uint16_t* dst) {
  const int64_t kcp = (kc + 1) / 2 * 2;
  for (int64_t i0 = 0; i0 < m; i0 += kMr, dst += kMr * kcp) {
    const int64_t rows = m - i0 < kMr ? m - i0 : kMr;
    if (trans_a) {
      // op(A)[i][k] = a[k * lda + i]: interleave source rows k and k+1 (8 valid lanes used).
      for (int64_t k = 0; k < kc; k += 2) {
        const __m512i v =
            interleave_rows(a + k * lda + i0, k + 1 < kc ? a + (k + 1) * lda + i0 : nullptr, rows);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k * kMr), _mm512_castsi512_si256(v));
      }
    } else {
      for (int64_t k0 = 0; k0 < kc; k0 += 32) {
        const int64_t nk = kc - k0 < 32 ? kc - k0 : 32;
        __m512 r[16];
        load_pairs_transposed(a + i0 * lda + k0, lda, rows, nk, r);
        for (int64_t t = 0; 2 * t < nk; ++t) {
          _mm256_storeu_ps(reinterpret_cast<float*>(dst + (k0 + 2 * t) * kMr),
                           _mm512_castps512_ps256(r[t]));
        }
      }
    }
  }
}

void pack_b(bool trans_b, const uint16_t* b, int64_t ldb, int64_t kc, int64_t n, uint16_t* dst) {
  const int64_t kcp = (kc + 1) / 2 * 2;
  for (int64_t j0 = 0; j0 < n; j0 += kNr, dst += kNr * kcp) {
    const int64_t cols = n - j0 < kNr ? n - j0 : kNr;
    if (!trans_b) {
      for (int64_t k = 0; k < kc; k += 2) {
        const uint16_t* r0 = b + k * ldb + j0;
        const uint16_t* r1 = k + 1 < kc ? r0 + ldb : nullptr;
        for (int64_t g = 0; g < 3; ++g) {
          const __m512i v = interleave_rows(r0 + 16 * g, r1 ? r1 + 16 * g : nullptr, cols - 16 * g);
          _mm512_storeu_si512(dst + k * kNr + 32 * g, v);
        }
      }
    } else {
      for (int64_t k0 = 0; k0 < kc; k0 += 32) {
        const int64_t nk = kc - k0 < 32 ? kc - k0 : 32;
        for (int64_t g = 0; g < 3; ++g) {
          __m512 r[16];
          load_pairs_transposed(b + (j0 + 16 * g) * ldb + k0, ldb, cols - 16 * g, nk, r);
          for (int64_t t = 0; 2 * t < nk; ++t) {
            _mm512_storeu_ps(reinterpret_cast<float*>(dst + (k0 + 2 * t) * kNr + 32 * g), r[t]);
          }
        }
      }
    }
  }
}

void micro_kernel(int64_t kc, const uint16_t* ap, const uint16_t* bp, float* c, int64_t ldc,
                  int64_t mr, int64_t nr, float alpha, float beta) {
  if (beta != 0.0f) {
    for (int64_t i = 0; i < mr; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 32), _MM_HINT_T0);
    }
  }
  __m512 acc[kMr][3];
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
  const uint32_t* a32 = reinterpret_cast<const uint32_t*>(ap);
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; k += 2) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + 32);
    const __m512bh b2 = (__m512bh)_mm512_loadu_si512(bp + 64);
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a32[i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
      acc[i][2] = _mm512_dpbf16_ps(acc[i][2], av, b2);
    }
    a32 += kMr;
    bp += 2 * kNr;
  }
  store_tile_8x48(acc, c, ldc, mr, nr, alpha, beta);
}

}  // namespace

const Bf16GemmKernel& bf16_kernel() {
  static const Bf16GemmKernel k{kMr, kNr, 2, pack_a, pack_b, micro_kernel, nullptr, nullptr};
  return k;
}

}  // namespace kiln::gemm::avx512
