// AVX-512 sgemm packing + 8x48 micro-kernel. See core/kernels/sgemm_kernels.h for layouts.
#include <immintrin.h>

#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/sgemm_kernels.h"

namespace kiln::gemm::avx512 {
namespace {

constexpr int64_t kMr = 8;
constexpr int64_t kNr = 48;

// Loads up to 16 rows x 16 floats (rows >= nrows and columns >= ncols read as zero) and transposes
// them, so r[t] holds element t of every row: the layout both packers need when the source is
// contiguous along k.
inline void load_transposed(const float* src, int64_t ld, int64_t nrows, int64_t ncols,
                            __m512 r[16]) {
  const __mmask16 mask = first_n(ncols);
  for (int i = 0; i < 16; ++i) {
    r[i] = i < nrows ? _mm512_maskz_loadu_ps(mask, src + i * ld) : _mm512_setzero_ps();
  }
  transpose16(r);
}

void pack_a(bool trans_a, const float* a, int64_t lda, int64_t m, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr, dst += kMr * kc) {
    const int64_t rows = m - i0 < kMr ? m - i0 : kMr;
    if (trans_a) {
      // op(A)[i][k] = a[k * lda + i]: each k gives `rows` contiguous floats.
      const __mmask16 mask = first_n(rows);
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_storeu_ps(dst + k * kMr, _mm256_maskz_loadu_ps(mask, a + k * lda + i0));
      }
    } else {
      // Rows are contiguous along k: transpose 8 rows x 16 k at a time (upper 8 rows unused).
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const int64_t nk = kc - k0 < 16 ? kc - k0 : 16;
        __m512 r[16];
        load_transposed(a + i0 * lda + k0, lda, rows, nk, r);
        for (int64_t t = 0; t < nk; ++t) {
          _mm256_storeu_ps(dst + (k0 + t) * kMr, _mm512_castps512_ps256(r[t]));
        }
      }
    }
  }
}

void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t n, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += kNr, dst += kNr * kc) {
    const int64_t cols = n - j0 < kNr ? n - j0 : kNr;
    if (!trans_b) {
      // op(B)[k][j] = b[k * ldb + j]: 48 contiguous floats per k, masked at the right edge.
      const __mmask16 m0 = first_n(cols), m1 = first_n(cols - 16), m2 = first_n(cols - 32);
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = b + k * ldb + j0;
        float* d = dst + k * kNr;
        _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, s));
        _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(m1, s + 16));
        _mm512_storeu_ps(d + 32, _mm512_maskz_loadu_ps(m2, s + 32));
      }
    } else {
      // op(B)[k][j] = b[j * ldb + k]: source rows are contiguous along k; transpose 16 x 16
      // blocks (columns past n come out as zeros).
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const int64_t nk = kc - k0 < 16 ? kc - k0 : 16;
        for (int64_t g = 0; g < 3; ++g) {
          __m512 r[16];
          load_transposed(b + (j0 + 16 * g) * ldb + k0, ldb, cols - 16 * g, nk, r);
          for (int64_t t = 0; t < nk; ++t) _mm512_storeu_ps(dst + (k0 + t) * kNr + 16 * g, r[t]);
        }
      }
    }
  }
}

// kRowsA: A is read from op(A) rows (stride lda) instead of a packed panel. kVecs: how many of the
// tile's three 16-column vectors hold real columns; a narrow right edge (e.g. the 16 columns left
// of a 64-wide attention head after one full panel) skips the FMAs of the empty ones. Every
// element still gets the same FMA sequence (one accumulator, k ascending) in every variant, so all
// of them produce the same bits.
// kRows (4 or 8) rows of accumulators: with at most 4 rows in the whole product the other 4
// would only repeat row mr - 1. kStream (few rows, B read once from memory; TileExtras::stream_b):
// prefetch B kPrefetchSteps k steps ahead. With few rows each k step is many FMAs per B byte, so
// the out-of-order window alone reaches too little of the stream (BERT-base's linears at 4 rows:
// 18.9 ms without the prefetch, 13.2 ms with it at 8-16 steps, 14.8-15.2 at 32-128).
constexpr int64_t kPrefetchSteps = 12;

template <bool kRowsA, int kVecs, int kRows = kMr, bool kStream = false>
inline void micro_impl(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                       int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                       const TileExtras* extras) {
  const float* bias = extras != nullptr ? extras->bias : nullptr;
  const float* residual = extras != nullptr ? extras->residual : nullptr;
  const int64_t ldr = extras != nullptr ? extras->ldr : 0;
  // Start pulling the C tile in now: with beta != 0 it is read after the k loop, and for large M it
  // has usually left L2 since the previous K block.
  if (beta != 0.0f && bias == nullptr) {
    for (int64_t i = 0; i < mr; ++i) {
      for (int v = 0; v < kVecs; ++v)
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * v), _MM_HINT_T0);
    }
  }
  const float* rows[kMr];
  if constexpr (kRowsA) {
    for (int i = 0; i < kRows; ++i) rows[i] = a + (i < mr ? i : mr - 1) * lda;
  }
  __m512 acc[kMr][3];
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i) {
    acc[i][0] = _mm512_setzero_ps();
    acc[i][1] = _mm512_setzero_ps();
    acc[i][2] = _mm512_setzero_ps();
  }
  // One k step per iteration, same order for every element: sum_k a[i][k] * b[k][j] ascending.
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[kVecs];
#pragma GCC unroll 3
    for (int v = 0; v < kVecs; ++v) {
      if constexpr (kStream) {
        _mm_prefetch(reinterpret_cast<const char*>(bp + kPrefetchSteps * kNr + 16 * v),
                     _MM_HINT_T0);
      }
      b[v] = _mm512_loadu_ps(bp + 16 * v);
    }
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      const __m512 av = _mm512_set1_ps(kRowsA ? rows[i][k] : a[k * kMr + i]);
#pragma GCC unroll 3
      for (int v = 0; v < kVecs; ++v) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
    }
    bp += kNr;
  }
  store_tile_8x48(acc, c, ldc, mr, nr, alpha, beta, bias, residual, ldr);
}

template <bool kRowsA, int kRows = kMr, bool kStream = false>
inline void micro_width(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                        int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                        const TileExtras* extras) {
  if (nr > 32) {
    micro_impl<kRowsA, 3, kRows, kStream>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
  } else if (nr > 16) {
    micro_impl<kRowsA, 2, kRows, kStream>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
  } else {
    micro_impl<kRowsA, 1, kRows, kStream>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
  }
}

template <bool kRowsA>
inline void micro_dispatch(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                           int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                           const TileExtras* extras) {
  if (kRowsA && extras != nullptr && extras->stream_b) {
    if (mr <= 4) {
      micro_width<kRowsA, 4, true>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
    } else {
      micro_width<kRowsA, kMr, true>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
    }
    return;
  }
  micro_width<kRowsA>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
}

void micro_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int64_t mr,
                  int64_t nr, float alpha, float beta) {
  micro_dispatch<false>(kc, ap, 0, bp, c, ldc, mr, nr, alpha, beta, nullptr);
}

void micro_kernel_rows_a(int64_t kc, const float* a, int64_t lda, const float* bp, float* c,
                         int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                         const TileExtras* extras) {
  micro_dispatch<true>(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta, extras);
}

// One row over P panels of 48 columns: 3P accumulators in flight, each summing its k terms in
// ascending order and stored exactly as store_tile_8x48 stores row 0 (bias, beta, residual).
template <int P>
void one_row_panels(int64_t kc, const float* a, int64_t a_step, const float* bp, int64_t stride,
                    float* c, int64_t cols, float alpha, float beta, const float* bias,
                    const float* residual) {
  __m512 acc[P][3];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p) acc[p][0] = acc[p][1] = acc[p][2] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 av = _mm512_set1_ps(a[k * a_step]);
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      const float* b = bp + p * stride + k * kNr;
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v)
        acc[p][v] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16 * v), acc[p][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p) {
    for (int v = 0; v < 3; ++v) {
      const int64_t off = p * kNr + 16 * v;
      const __mmask16 mask = first_n(cols - off);
      __m512 r;
      if (beta == 0.0f) {
        r = _mm512_mul_ps(va, acc[p][v]);
      } else {
        const __m512 old = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + off)
                                           : _mm512_maskz_loadu_ps(mask, c + off);
        r = _mm512_fmadd_ps(va, acc[p][v], _mm512_mul_ps(vb, old));
      }
      if (residual != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, residual + off));
      _mm512_mask_storeu_ps(c + off, mask, r);
    }
  }
}

void micro_one_row(int64_t kc, const float* a, int64_t a_step, const float* bp, int64_t stride,
                   int64_t panels, float* c, int64_t cols, float alpha, float beta,
                   const TileExtras* extras) {
  const float* bias = extras != nullptr ? extras->bias : nullptr;
  const float* residual = extras != nullptr ? extras->residual : nullptr;
  for (int64_t q = 0; q < panels; q += 4) {
    const int64_t off = q * kNr, left = cols - off;
    const float* b = bp + q * stride;
    const float* bq = bias != nullptr ? bias + off : nullptr;
    const float* rq = residual != nullptr ? residual + off : nullptr;
    switch (panels - q < 4 ? panels - q : 4) {
      case 1:
        one_row_panels<1>(kc, a, a_step, b, stride, c + off, left, alpha, beta, bq, rq);
        break;
      case 2:
        one_row_panels<2>(kc, a, a_step, b, stride, c + off, left, alpha, beta, bq, rq);
        break;
      case 3:
        one_row_panels<3>(kc, a, a_step, b, stride, c + off, left, alpha, beta, bq, rq);
        break;
      default:
        one_row_panels<4>(kc, a, a_step, b, stride, c + off, left, alpha, beta, bq, rq);
        break;
    }
  }
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel k{
      kMr, kNr, 1, pack_a, pack_b, micro_kernel, micro_kernel_rows_a, micro_one_row};
  return k;
}

}  // namespace kiln::gemm::avx512
