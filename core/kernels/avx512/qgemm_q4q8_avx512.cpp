// The q4 x q8 few-row kernel (core/kernels/qgemm_kernels.h has the arithmetic it must follow).
// Why: a decoder step is one row against every weight, and expanding each nibble to a float for
// an FMA (the f32 GEMV in qgemm_q4_avx512.cpp) costs about six instructions per 32 weights, so
// the q4 BART-base step ran at 3.2 ms, well above the 1.7 ms its 50 MB of weights take to read.
// With the activations in s8, 128 weights take one 64-byte load, one vpermb, three logic ops and
// two vpdpbusd.
//
// The panel keeps its layout: 16 bytes per k pair (j, j + 16) hold that byte of 16 rows. vpermb
// turns 64 such bytes (j = 4g .. 4g + 3) into 16 lanes of 4 bytes of one row each, so a lane's
// low nibbles are elements 4g .. 4g + 3 of that row and its high nibbles 16 + 4g .. 16 + 4g + 3:
// one vpdpbusd each against 4 broadcast activations.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx512 {
namespace {

// vpermb's index: output byte 4 r + t takes input byte 16 t + r. A constant, not rebuilt per
// call (the LM head alone makes 785 calls per decoder step).
struct LaneTransposeIndex {
  alignas(64) uint8_t idx[64];
  constexpr LaneTransposeIndex() : idx() {
    for (int r = 0; r < 16; ++r)
      for (int t = 0; t < 4; ++t) idx[4 * r + t] = static_cast<uint8_t>(16 * t + r);
  }
};
constexpr LaneTransposeIndex kLaneTranspose;

inline int32_t load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Only this function needs VBMI (vpermb): the attribute, not a file-wide pragma, so that the
// inline helpers this file shares with others are compiled for the common AVX-512 target.
template <int R, int P>
__attribute__((target("avx512vbmi"))) void gemv(Format f, int64_t kblocks, const int8_t* xq,
                                                int64_t ldq, const Q8Block* qb, const float* xsum,
                                                int64_t rows, const uint8_t* bp,
                                                int64_t panel_stride, const float* bias,
                                                const float* residual, int64_t ldr, float* y,
                                                int64_t ldy, int64_t cols) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f), qs_off = q41 ? 64 : 32;
  const __m512i perm = _mm512_load_si512(kLaneTranspose.idx), low = _mm512_set1_epi8(0x0F);
  const int8_t* xr[R];
  const Q8Block* br[R];
  const float* sr[R];
  for (int r = 0; r < R; ++r) {
    const int64_t i = r < rows ? r : rows - 1;
    xr[r] = xq + i * ldq;
    br[r] = qb + i * kblocks;
    sr[r] = xsum + i * kblocks;
  }
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < kblocks; ++b) {
    __m512i s[R][P];
    for (int r = 0; r < R; ++r)
      for (int p = 0; p < P; ++p) s[r][p] = _mm512_setzero_si512();
    const uint8_t* blk[P];
    q4_block_pointers<P>(bp, panel_stride, b, bb, blk);
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      __m512i lo[P], hi[P];
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) {
        const __m512i v =
            _mm512_permutexvar_epi8(perm, _mm512_loadu_si512(blk[p] + qs_off + 64 * g));
        lo[p] = _mm512_and_si512(v, low);
        hi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int8_t* xb = xr[r] + b * kQ4Block + 4 * g;
        const __m512i al = _mm512_set1_epi32(load4(xb));
        const __m512i ah = _mm512_set1_epi32(load4(xb + 16));
#pragma GCC unroll 4
        for (int p = 0; p < P; ++p) {
          s[r][p] = _mm512_dpbusd_epi32(s[r][p], lo[p], al);
          s[r][p] = _mm512_dpbusd_epi32(s[r][p], hi[p], ah);
        }
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) {
      const __m512 d = gemm::avx512::load_f16x16(blk[p]);
      const __m512 mn = q41 ? gemm::avx512::load_f16x16(blk[p] + 32) : _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const Q8Block qblk = br[r][b];
        __m512i v = s[r][p];
        if (!q41) v = _mm512_sub_epi32(v, _mm512_set1_epi32(8 * qblk.sum));
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(qblk.scale));
        acc[r][p] = _mm512_fmadd_ps(d, t, acc[r][p]);
        if (q41) acc[r][p] = _mm512_fmadd_ps(mn, _mm512_set1_ps(sr[r][b]), acc[r][p]);
      }
    }
  }
  gemm::avx512::store_rows_tile<R, P>(acc, rows, bias, residual, ldr, y, ldy, cols);
}

template <int R, int P>
void gemv_panels(Format f, int64_t kblocks, const int8_t* xq, int64_t ldq, const Q8Block* qb,
                 const float* xsum, int64_t rows, const uint8_t* bp, int64_t panels,
                 const float* bias, const float* residual, int64_t ldr, float* y, int64_t ldy,
                 int64_t cols) {
  const int64_t stride = kblocks * q4_panel_block_bytes(f);
  int64_t q = 0;
  for (; q + P <= panels; q += P) {
    const int64_t c0 = q * kPanelCols;
    gemv<R, P>(f, kblocks, xq, ldq, qb, xsum, rows, bp + q * stride, stride,
               bias != nullptr ? bias + c0 : nullptr, residual != nullptr ? residual + c0 : nullptr,
               ldr, y + c0, ldy, cols - c0);
  }
  for (; q < panels; ++q) {
    const int64_t c0 = q * kPanelCols;
    gemv<R, 1>(f, kblocks, xq, ldq, qb, xsum, rows, bp + q * stride, stride,
               bias != nullptr ? bias + c0 : nullptr, residual != nullptr ? residual + c0 : nullptr,
               ldr, y + c0, ldy, cols - c0);
  }
}

void tile(Format f, int64_t kblocks, const int8_t* xq, int64_t ldq, const Q8Block* qb,
          const float* xsum, int64_t rows, const uint8_t* bp, int64_t panels, const float* bias,
          const float* residual, int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  for (int64_t i0 = 0; i0 < rows; i0 += 8) {
    const int64_t r = rows - i0 < 8 ? rows - i0 : 8;
    const int8_t* xi = xq + i0 * ldq;
    const Q8Block* bi = qb + i0 * kblocks;
    const float* si = xsum + i0 * kblocks;
    const float* ri = residual != nullptr ? residual + i0 * ldr : nullptr;
    float* yi = y + i0 * ldy;
    if (r > 4) {
      gemv_panels<8, 1>(f, kblocks, xi, ldq, bi, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else if (r > 2) {
      gemv_panels<4, 2>(f, kblocks, xi, ldq, bi, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else if (r == 2) {
      gemv_panels<2, 2>(f, kblocks, xi, ldq, bi, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    } else {
      gemv_panels<1, 4>(f, kblocks, xi, ldq, bi, si, r, bp, panels, bias, ri, ldr, yi, ldy, cols);
    }
  }
}

}  // namespace

void quantize_q8_rows(const float* x, int64_t ldx, int64_t rows, int64_t kblocks, int8_t* q,
                      int64_t ldq, Q8Block* blocks) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t b = 0; b < kblocks; ++b) {
      const float* xb = x + i * ldx + b * kQ4Block;
      int8_t* qb = q + i * ldq + b * kQ4Block;
      Q8Block& out = blocks[i * kblocks + b];
      const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
      // QNaN, +inf, -inf, SNaN: the plain quantizer's !isfinite.
      if ((_mm512_fpclass_ps_mask(v0, 0x99) | _mm512_fpclass_ps_mask(v1, 0x99)) != 0) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), _mm256_setzero_si256());
        out = {std::nanf(""), 0};
        continue;
      }
      const float amax = _mm512_reduce_max_ps(
          _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      if (amax == 0.0f || !std::isfinite(inv)) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), _mm256_setzero_si256());
        out = {0.0f, 0};
        continue;
      }
      const __m512 vi = _mm512_set1_ps(inv);
      // cvtps rounds to nearest even (MXCSR default), as nearbyint in the plain quantizer.
      const __m512i q0 =
          _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vi)), lo), hi);
      const __m512i q1 =
          _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vi)), lo), hi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16), _mm512_cvtepi32_epi8(q1));
      out = {amax / 127.0f, _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1))};
    }
  }
}

Q4Q8Tile q4_q8_tile() {
  return tile;
}

}  // namespace kiln::quant::kernels::avx512
