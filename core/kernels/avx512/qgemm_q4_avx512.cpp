// AVX-512 kernels of the 4-bit linear layers (layouts in core/kernels/qgemm_kernels.h).
// A decoder step multiplies one row by every weight once, so it is bound by reading weights: the
// point of q4 is to read 4.5 (q4_0) or 5 (q4_1) bits per weight instead of 32. The nibbles are
// expanded in registers: one 16-byte load gives element j and j + 16 of 16 weight rows, vpermps
// with the nibble as index (it reads only the low 4 bits of each lane) turns them into floats
// (q - 8 for q4_0, q for q4_1), and FMAs accumulate them against the broadcast activations.
#include <immintrin.h>

#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx512 {
namespace {

using gemm::avx512::first_n;

inline __m512 nibble_table(Format f) {
  return f == Format::Q4_0 ? _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7)
                           : _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// R rows of x times P panels. Per 32-block, s = sum_e q'_e x_e is summed in two chains (elements
// 0-15 and 16-31, e ascending within each) and added; then y += d * s (one FMA), and for q4_1
// y += m * xsum (one FMA). Every output column gets this same sequence wherever it sits.
template <int R, int P>
void gemv(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum, int64_t rows,
          const uint8_t* bp, int64_t panel_stride, const float* bias, const float* residual,
          int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f), qs_off = q41 ? 64 : 32;
  const __m512 table = nibble_table(f);
  const float* xr[R];
  const float* sr[R];
  for (int r = 0; r < R; ++r) {
    xr[r] = x + (r < rows ? r : rows - 1) * ldx;
    sr[r] = xsum + (r < rows ? r : rows - 1) * kblocks;
  }
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < kblocks; ++b) {
    __m512 s0[R][P], s1[R][P];
    for (int r = 0; r < R; ++r)
      for (int p = 0; p < P; ++p) s0[r][p] = s1[r][p] = _mm512_setzero_ps();
    const uint8_t* blk[P];
    q4_block_pointers<P>(bp, panel_stride, b, bb, blk);
#pragma GCC unroll 4
    for (int j = 0; j < 16; ++j) {
      __m512 lo[P], hi[P];
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) {
        const __m512i v = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[p] + qs_off + j * 16)));
        lo[p] = _mm512_permutexvar_ps(v, table);
        hi[p] = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 xl = _mm512_set1_ps(xr[r][b * kQ4Block + j]);
        const __m512 xh = _mm512_set1_ps(xr[r][b * kQ4Block + j + 16]);
#pragma GCC unroll 4
        for (int p = 0; p < P; ++p) {
          s0[r][p] = _mm512_fmadd_ps(lo[p], xl, s0[r][p]);
          s1[r][p] = _mm512_fmadd_ps(hi[p], xh, s1[r][p]);
        }
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) {
      const __m512 d = gemm::avx512::load_f16x16(blk[p]);
      const __m512 mn = q41 ? gemm::avx512::load_f16x16(blk[p] + 32) : _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        acc[r][p] = _mm512_fmadd_ps(d, _mm512_add_ps(s0[r][p], s1[r][p]), acc[r][p]);
        if (q41) acc[r][p] = _mm512_fmadd_ps(mn, _mm512_set1_ps(sr[r][b]), acc[r][p]);
      }
    }
  }
  gemm::avx512::store_rows_tile<R, P>(acc, rows, bias, residual, ldr, y, ldy, cols);
}

template <int R, int P>
void gemv_rows(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum,
               int64_t rows, const uint8_t* bp, int64_t panels, const float* bias,
               const float* residual, int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  const int64_t stride = kblocks * q4_panel_block_bytes(f);
  int64_t q = 0;
  for (; q + P <= panels; q += P) {
    const int64_t c0 = q * kPanelCols;
    gemv<R, P>(f, kblocks, x, ldx, xsum, rows, bp + q * stride, stride,
               bias != nullptr ? bias + c0 : nullptr, residual != nullptr ? residual + c0 : nullptr,
               ldr, y + c0, ldy, cols - c0);
  }
  for (; q < panels; ++q) {
    const int64_t c0 = q * kPanelCols;
    gemv<R, 1>(f, kblocks, x, ldx, xsum, rows, bp + q * stride, stride,
               bias != nullptr ? bias + c0 : nullptr, residual != nullptr ? residual + c0 : nullptr,
               ldr, y + c0, ldy, cols - c0);
  }
}

void tile(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum, int64_t rows,
          const uint8_t* bp, int64_t panels, const float* bias, const float* residual, int64_t ldr,
          float* y, int64_t ldy, int64_t cols) {
  for (int64_t i0 = 0; i0 < rows; i0 += 8) {
    const int64_t r = rows - i0 < 8 ? rows - i0 : 8;
    const float* xi = x + i0 * ldx;
    const float* si = xsum + i0 * kblocks;
    const float* ri = residual != nullptr ? residual + i0 * ldr : nullptr;
    float* yi = y + i0 * ldy;
    if (r > 4) {
      gemv_rows<8, 1>(f, kblocks, xi, ldx, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else if (r > 2) {
      gemv_rows<4, 2>(f, kblocks, xi, ldx, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else if (r == 2) {
      gemv_rows<2, 2>(f, kblocks, xi, ldx, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else {
      gemv_rows<1, 4>(f, kblocks, xi, ldx, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    }
  }
}

// dst[e * ld + r] = w[r][e] for e < kcount (from the panel's first block), r < 16: exactly the
// values dequantize_rows gives (d * (q - 8), or d * q + m), as separate multiply and add.
void dequant(Format f, const uint8_t* bp, int64_t kcount, float* dst, int64_t ld) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f), qs_off = q41 ? 64 : 32;
  const __m512 table = nibble_table(f);
  for (int64_t b = 0; b * kQ4Block < kcount; ++b) {
    const uint8_t* blk = bp + b * bb;
    const __m512 d = gemm::avx512::load_f16x16(blk);
    const __m512 mn = q41 ? gemm::avx512::load_f16x16(blk + 32) : _mm512_setzero_ps();
    const int64_t e0 = b * kQ4Block;
    for (int j = 0; j < 16; ++j) {
      const __m512i v = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + qs_off + j * 16)));
      __m512 lo = _mm512_mul_ps(d, _mm512_permutexvar_ps(v, table));
      __m512 hi = _mm512_mul_ps(d, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table));
      if (q41) {
        __asm__("" : "+v"(lo), "+v"(hi));  // keep d * q and + m two roundings (no FMA contraction)
        lo = _mm512_add_ps(lo, mn);
        hi = _mm512_add_ps(hi, mn);
      }
      if (e0 + j < kcount) _mm512_storeu_ps(dst + (e0 + j) * ld, lo);
      if (e0 + j + 16 < kcount) _mm512_storeu_ps(dst + (e0 + j + 16) * ld, hi);
    }
  }
}

}  // namespace

const Q4Kernel& q4_kernel() {
  static const Q4Kernel k{tile, dequant};
  return k;
}

}  // namespace kiln::quant::kernels::avx512
