// AVX-512 build of the Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (this directory is
// compiled with -mavx512f etc.); only reached through the dispatch in
// core/kernels/winograd_f2x3.cpp. The transforms take 16 channels per vector (GCC left the plain
// loops scalar: 15% of a DenseNet121 forward), with the plain build's operations in the plain
// build's order (core/kernels/winograd_transforms.h); the products per position of the tile
// block are an 8-row x 32-column register tile (16 accumulators, A broadcast from memory, B rows
// from the transformed weights, which stay in L1 for a position xi), summing c in ascending order
// with FMA.
#include <immintrin.h>

#include "core/kernels/amx/winograd_bf16_amx.h"
#include "core/kernels/avx512/transpose_avx512.h"

#include "core/kernels/winograd_f2x3.h"
#include "core/kernels/winograd_transforms.h"

#define KILN_WINOGRAD_NS avx512
#include "core/kernels/winograd_f2x3_impl.h"

namespace kiln::kernels::avx512 {
namespace {

using gemm::avx512::first_n;  // the first n of 16 lanes

constexpr int64_t kRows = 8;

template <int M>
void input_tile(const WinogradImage& im, int64_t y0, int64_t x0, bool inside, float* v,
                int64_t ldv) {
  const int64_t cin = im.cin, row = im.stride * cin;
  if (inside) {
    const float* p = im.in + (y0 * im.stride + x0) * cin;
    for (int64_t c = 0; c < cin; c += 16) {
      const __mmask16 k = first_n(cin - c);
      winograd::input_2d<M, __m512>(
          [&](int i, int j) { return _mm512_maskz_loadu_ps(k, p + i * row + j * cin + c); },
          [&](int xi, __m512 t) { _mm512_mask_storeu_ps(v + xi * ldv + c, k, t); });
    }
    return;
  }
  // An edge tile: rows / columns of the patch outside the image read as zeros (bit i of
  // `rows` / `cols`: patch row / column i is inside).
  unsigned rows = 0, cols = 0;
  for (int i = 0; i < M + 2; ++i) {
    rows |= unsigned(y0 + i >= 0 && y0 + i < im.h) << i;
    cols |= unsigned(x0 + i >= 0 && x0 + i < im.w) << i;
  }
  for (int64_t c = 0; c < cin; c += 16) {
    const __mmask16 k = first_n(cin - c);
    winograd::input_2d<M, __m512>(
        [&](int i, int j) {
          if (!((rows >> i) & (cols >> j) & 1u)) return _mm512_setzero_ps();
          return _mm512_maskz_loadu_ps(k, im.in + ((y0 + i) * im.stride + x0 + j) * cin + c);
        },
        [&](int xi, __m512 t) { _mm512_mask_storeu_ps(v + xi * ldv + c, k, t); });
  }
}

template <int M>
void output_tile(const float* m, int64_t ldm, int64_t cout, float* out, int64_t ldo, int64_t row,
                 int64_t ny, int64_t nx) {
  for (int64_t o = 0; o < cout; o += 16) {
    const __mmask16 k = first_n(cout - o);
    winograd::output_2d<M, __m512>(
        [&](int xi) { return _mm512_maskz_loadu_ps(k, m + xi * ldm + o); },
        [&](int a, int b, __m512 y) {
          if (a < ny && b < nx) _mm512_mask_storeu_ps(out + a * row + b * ldo + o, k, y);
        });
  }
}

void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, int64_t positions, float* m) {
  for (int64_t xi = 0; xi < positions; ++xi) {
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
          float* mo = m + ((r0 + i) * positions + xi) * cout + o0;
          _mm512_mask_storeu_ps(mo, k0, acc0[i]);
          _mm512_mask_storeu_ps(mo + 16, k1, acc1[i]);
        }
      }
    }
  }
}

// Only reached where the CPU has AMX (winograd_f2x3_bf16_available).
void tile_products_bf16(const float* v, int64_t ldv, int64_t count, int64_t cin, const uint16_t* uh,
                        int64_t cout, int64_t positions, float* m) {
  amx::winograd_bf16_products(v, ldv, count, cin, uh, cout, positions, m);
}

}  // namespace
}  // namespace kiln::kernels::avx512
