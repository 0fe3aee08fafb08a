// AVX2 kernels of the 4-bit linear layers (layouts in core/kernels/qgemm_kernels.h), for CPUs
// without AVX-512. As the AVX-512 kernel, the nibbles are expanded in registers: 8 bytes give
// element j and j + 16 of 8 weight rows (half a panel), widened to 32-bit lanes, masked / shifted
// and converted to floats (q - 8 for q4_0, q for q4_1, exact), and FMAs accumulate them against
// the broadcast activations.
#include <immintrin.h>

#include <cstring>

#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx2 {
namespace {

inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// R rows of x (1 or 2) times one panel of 16 weight rows (two halves of 8). Per 32-block,
// s = sum_e q'_e x_e in two chains (elements 0-15 and 16-31), then y += d * s, and for q4_1
// y += m * xsum, the same sequence for every output column.
template <int R>
void gemv_panel(Format f, int64_t kblocks, const float* const* xr, const float* const* sr,
                int64_t rows, const uint8_t* bp, const float* bias, const float* residual,
                int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f), qs_off = q41 ? 64 : 32;
  const __m256i low4 = _mm256_set1_epi32(0x0F), bias8 = _mm256_set1_epi32(q41 ? 0 : 8);
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < kblocks; ++b) {
    const uint8_t* blk = bp + b * bb;
    __m256 s0[R][2], s1[R][2];
    for (int r = 0; r < R; ++r) s0[r][0] = s0[r][1] = s1[r][0] = s1[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < 16; ++j) {
      __m256 lo[2], hi[2];
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + qs_off + j * 16 + h * 8)));
        lo[h] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v, low4), bias8));
        hi[h] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v, 4), bias8));
      }
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const __m256 xl = _mm256_set1_ps(xr[r][b * kQ4Block + j]);
        const __m256 xh = _mm256_set1_ps(xr[r][b * kQ4Block + j + 16]);
        for (int h = 0; h < 2; ++h) {
          s0[r][h] = _mm256_fmadd_ps(lo[h], xl, s0[r][h]);
          s1[r][h] = _mm256_fmadd_ps(hi[h], xh, s1[r][h]);
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 d = load_f16x8(blk + 16 * h);
      const __m256 mn = q41 ? load_f16x8(blk + 32 + 16 * h) : _mm256_setzero_ps();
      for (int r = 0; r < R; ++r) {
        acc[r][h] = _mm256_fmadd_ps(d, _mm256_add_ps(s0[r][h], s1[r][h]), acc[r][h]);
        if (q41) acc[r][h] = _mm256_fmadd_ps(mn, _mm256_set1_ps(sr[r][b]), acc[r][h]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
    alignas(32) float out[16];
    _mm256_store_ps(out, acc[r][0]);
    _mm256_store_ps(out + 8, acc[r][1]);
    for (int64_t c = 0; c < cols && c < kPanelCols; ++c) {
      float v = out[c];
      if (bias != nullptr) v = v + bias[c];
      if (residual != nullptr) v = v + residual[r * ldr + c];
      y[r * ldy + c] = v;
    }
  }
}

void tile(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum, int64_t rows,
          const uint8_t* bp, int64_t panels, const float* bias, const float* residual, int64_t ldr,
          float* y, int64_t ldy, int64_t cols) {
  const int64_t stride = kblocks * q4_panel_block_bytes(f);
  for (int64_t i0 = 0; i0 < rows; i0 += 2) {
    const int64_t r = rows - i0 < 2 ? rows - i0 : 2;
    const float* xr[2] = {x + i0 * ldx, x + (i0 + r - 1) * ldx};
    const float* sr[2] = {xsum + i0 * kblocks, xsum + (i0 + r - 1) * kblocks};
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t c0 = q * kPanelCols;
      const float* bq = bias != nullptr ? bias + c0 : nullptr;
      const float* rq = residual != nullptr ? residual + i0 * ldr + c0 : nullptr;
      if (r == 2) {
        gemv_panel<2>(f, kblocks, xr, sr, r, bp + q * stride, bq, rq, ldr, y + i0 * ldy + c0, ldy,
                      cols - c0);
      } else {
        gemv_panel<1>(f, kblocks, xr, sr, r, bp + q * stride, bq, rq, ldr, y + i0 * ldy + c0, ldy,
                      cols - c0);
      }
    }
  }
}

// dst[e * ld + r] = w[r][e] for e < kcount, r < 16: exactly dequantize_rows' values.
void dequant(Format f, const uint8_t* bp, int64_t kcount, float* dst, int64_t ld) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f), qs_off = q41 ? 64 : 32;
  const __m256i low4 = _mm256_set1_epi32(0x0F), bias8 = _mm256_set1_epi32(q41 ? 0 : 8);
  for (int64_t b = 0; b * kQ4Block < kcount; ++b) {
    const uint8_t* blk = bp + b * bb;
    const int64_t e0 = b * kQ4Block;
    for (int h = 0; h < 2; ++h) {
      const __m256 d = load_f16x8(blk + 16 * h);
      const __m256 mn = q41 ? load_f16x8(blk + 32 + 16 * h) : _mm256_setzero_ps();
      for (int j = 0; j < 16; ++j) {
        const __m256i v = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + qs_off + j * 16 + h * 8)));
        __m256 lo = _mm256_mul_ps(
            d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v, low4), bias8)));
        __m256 hi =
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v, 4), bias8)));
        if (q41) {
          __asm__("" : "+x"(lo), "+x"(hi));  // d * q and + m stay two roundings (no FMA)
          lo = _mm256_add_ps(lo, mn);
          hi = _mm256_add_ps(hi, mn);
        }
        if (e0 + j < kcount) _mm256_storeu_ps(dst + (e0 + j) * ld + 8 * h, lo);
        if (e0 + j + 16 < kcount) _mm256_storeu_ps(dst + (e0 + j + 16) * ld + 8 * h, hi);
      }
    }
  }
}

}  // namespace

const Q4Kernel& q4_kernel() {
  static const Q4Kernel k{tile, dequant};
  return k;
}

}  // namespace kiln::quant::kernels::avx2
