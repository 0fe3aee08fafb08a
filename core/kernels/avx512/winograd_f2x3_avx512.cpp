// AVX-512 build of the Winograd F(2x2, 3x3) convolution (this directory is compiled with
// -mavx512f etc.); only reached through the dispatch in core/kernels/winograd_f2x3.cpp. The
// transforms take 16 channels per vector (GCC left the plain loops scalar: 15% of a DenseNet121
// forward), with the plain build's additions in the plain build's order; the 16 products per tile
// block are an 8-row x 32-column register tile (16 accumulators, A broadcast from memory, B rows
// from the transformed weights, which stay in L1 for a position xi), summing c in ascending order
// with FMA.
#include <immintrin.h>

#include "core/kernels/avx512/transpose_avx512.h"

#include "core/kernels/winograd_f2x3.h"

#define KILN_WINOGRAD_NS avx512
#include "core/kernels/winograd_f2x3_impl.h"

namespace kiln::kernels::avx512 {
namespace {

using gemm::avx512::first_n;  // the first n of 16 lanes

constexpr int64_t kRows = 8;

void input_tile(const float* p, int64_t row, int64_t cin, float* v, int64_t ldv) {
  for (int64_t c = 0; c < cin; c += 16) {
    const __mmask16 k = first_n(cin - c);
    __m512 r[4][4];
    for (int64_t j = 0; j < 4; ++j) {
      const float* q = p + j * cin + c;
      const __m512 x0 = _mm512_maskz_loadu_ps(k, q), x1 = _mm512_maskz_loadu_ps(k, q + row),
                   x2 = _mm512_maskz_loadu_ps(k, q + 2 * row),
                   x3 = _mm512_maskz_loadu_ps(k, q + 3 * row);
      r[0][j] = _mm512_sub_ps(x0, x2);
      r[1][j] = _mm512_add_ps(x1, x2);
      r[2][j] = _mm512_sub_ps(x2, x1);
      r[3][j] = _mm512_sub_ps(x1, x3);
    }
    for (int64_t i = 0; i < 4; ++i) {
      float* o = v + 4 * i * ldv + c;
      _mm512_mask_storeu_ps(o, k, _mm512_sub_ps(r[i][0], r[i][2]));
      _mm512_mask_storeu_ps(o + ldv, k, _mm512_add_ps(r[i][1], r[i][2]));
      _mm512_mask_storeu_ps(o + 2 * ldv, k, _mm512_sub_ps(r[i][2], r[i][1]));
      _mm512_mask_storeu_ps(o + 3 * ldv, k, _mm512_sub_ps(r[i][1], r[i][3]));
    }
  }
}

void output_tile(const float* m, int64_t cout, float* out, int64_t ldo, int64_t row, int64_t ny,
                 int64_t nx) {
  for (int64_t o = 0; o < cout; o += 16) {
    const __mmask16 k = first_n(cout - o);
    __m512 q[2][4];
    for (int64_t j = 0; j < 4; ++j) {
      const float* s = m + j * cout + o;
      const __m512 s0 = _mm512_maskz_loadu_ps(k, s), s1 = _mm512_maskz_loadu_ps(k, s + 4 * cout),
                   s2 = _mm512_maskz_loadu_ps(k, s + 8 * cout),
                   s3 = _mm512_maskz_loadu_ps(k, s + 12 * cout);
      q[0][j] = _mm512_add_ps(_mm512_add_ps(s0, s1), s2);
      q[1][j] = _mm512_sub_ps(_mm512_sub_ps(s1, s2), s3);
    }
    for (int64_t a = 0; a < ny; ++a) {
      float* dst = out + a * row + o;
      _mm512_mask_storeu_ps(dst, k, _mm512_add_ps(_mm512_add_ps(q[a][0], q[a][1]), q[a][2]));
      if (nx > 1)
        _mm512_mask_storeu_ps(dst + ldo, k,
                              _mm512_sub_ps(_mm512_sub_ps(q[a][1], q[a][2]), q[a][3]));
    }
  }
}

void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, float* m) {
  for (int64_t xi = 0; xi < 16; ++xi) {
    const float* ux = u + xi * cin * cout;
    for (int64_t o0 = 0; o0 < cout; o0 += 32) {
      const __mmask16 k0 = first_n(cout - o0), k1 = first_n(cout - o0 - 16);
      for (int64_t r0 = 0; r0 < count; r0 += kRows) {
        const int64_t rows = std::min(kRows, count - r0);
        const float* a[kRows];  // absent rows re-read the last one and are not stored
        for (int64_t i = 0; i < kRows; ++i)
          a[i] = v + xi * ldv + (r0 + std::min(i, rows - 1)) * cin;
        // Every loop over the tile's rows has the constant trip count kRows and is unrolled, so
        // the accumulators stay in registers (indexing them by `rows` made GCC keep them on the
        // stack, a store per FMA).
        __m512 acc0[kRows], acc1[kRows];
#pragma GCC unroll 8
        for (int64_t i = 0; i < kRows; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
        const float* ub = ux + o0;
        for (int64_t c = 0; c < cin; ++c, ub += cout) {
          // The first row block of each xi reads u's rows from L2: fetching 8 rows ahead took
          // the DenseNet121 1 x 224^2 forward from 22 to 20.5 ms (the B loads had stalled).
          _mm_prefetch(reinterpret_cast<const char*>(ub + 8 * cout), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ub + 8 * cout + 16), _MM_HINT_T0);
          const __m512 b0 = _mm512_maskz_loadu_ps(k0, ub);
          const __m512 b1 = _mm512_maskz_loadu_ps(k1, ub + 16);
#pragma GCC unroll 8
          for (int64_t i = 0; i < kRows; ++i) {
            const __m512 ai = _mm512_set1_ps(a[i][c]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
          }
        }
#pragma GCC unroll 8
        for (int64_t i = 0; i < kRows; ++i) {
          if (i >= rows) break;
          float* mo = m + ((r0 + i) * 16 + xi) * cout + o0;
          _mm512_mask_storeu_ps(mo, k0, acc0[i]);
          _mm512_mask_storeu_ps(mo + 16, k1, acc1[i]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::kernels::avx512
