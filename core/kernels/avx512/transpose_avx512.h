// AVX-512 helpers shared by the kernels in core/kernels/avx512/ (include only from files compiled
// with AVX-512 flags).
#pragma once

#include <immintrin.h>

#include <cstdint>

// GCC 12 reports -Wmaybe-uninitialized inside its own shuffle/unpack intrinsics (their unused
// pass-through operand is _mm512_undefined_*); it is a false positive, silenced for these files.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kiln::gemm::avx512 {

// In-register 16x16 transpose: on return r[c] holds column c of the input rows (r[c][i] is the
// old r[i][c]). Three shuffle stages: 32-bit pairs, 64-bit pairs, then 128-bit lanes.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int q = 0; q < 4; ++q) {  // rows 4q..4q+3
    const __m512d t0 = _mm512_castps_pd(t[4 * q]), t1 = _mm512_castps_pd(t[4 * q + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * q + 2]), t3 = _mm512_castps_pd(t[4 * q + 3]);
    u[4 * q + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));  // column 4L+0 of each lane L
    u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));  // column 4L+1
    u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));  // column 4L+2
    u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));  // column 4L+3
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 v = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
    const __m512 w = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 w2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v, v2, 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(w, w2, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(w, w2, 0xdd);
  }
}

inline __mmask16 first_n(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}

// Writes an 8 x 48 accumulator tile to C as the micro-kernel contract says (sgemm_kernels.h):
// c[0:rows, 0:cols] = alpha * acc + beta * c, C not read when beta == 0, columns masked at the
// right edge. One sequence for the f32 and bf16 kernels, so their rounding of C is the same.
// `bias` (non-null) stands in for the old C on every row; `residual` (non-null, rows `ldr` apart)
// is added last (see TileExtras).
[[gnu::always_inline]] inline void store_tile_8x48(const __m512 acc[8][3], float* c, int64_t ldc,
                                                   int64_t rows, int64_t cols, float alpha,
                                                   float beta, const float* bias = nullptr,
                                                   const float* residual = nullptr,
                                                   int64_t ldr = 0) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __mmask16 mask[3];
  for (int j = 0; j < 3; ++j) mask[j] = first_n(cols - 16 * j);
  __m512 bias_v[3];
  if (bias != nullptr) {
    for (int j = 0; j < 3; ++j) bias_v[j] = _mm512_maskz_loadu_ps(mask[j], bias + 16 * j);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (i >= rows) break;
    float* row = c + i * ldc;
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      __m512 r;
      if (beta == 0.0f) {
        r = _mm512_mul_ps(va, acc[i][j]);
      } else {
        const __m512 old =
            bias != nullptr ? bias_v[j] : _mm512_maskz_loadu_ps(mask[j], row + 16 * j);
        r = _mm512_fmadd_ps(va, acc[i][j], _mm512_mul_ps(vb, old));
      }
      if (residual != nullptr) {
        r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[j], residual + i * ldr + 16 * j));
      }
      _mm512_mask_storeu_ps(row + 16 * j, mask[j], r);
    }
  }
}

// 16 f16 values (a q4 panel block's scales or minimums) as floats.
inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The store of a few-row tile: accumulator acc[r][p] holds row r, columns 16 p .. 16 p + 15;
// rows below `rows` and columns below `cols` get y = acc (+ bias) (+ residual), each addition one
// rounding, as the reference does them.
template <int R, int P>
inline void store_rows_tile(const __m512 (&acc)[R][P], int64_t rows, const float* bias,
                            const float* residual, int64_t ldr, float* y, int64_t ldy,
                            int64_t cols) {
  for (int p = 0; p < P; ++p) {
    const __mmask16 mask = first_n(cols - 16 * p);
    if (mask == 0) break;
    const __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + 16 * p) : __m512{};
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      __m512 out = acc[r][p];
      if (bias != nullptr) out = _mm512_add_ps(out, bv);
      if (residual != nullptr) {
        out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, residual + r * ldr + 16 * p));
      }
      _mm512_mask_storeu_ps(y + r * ldy + 16 * p, mask, out);
    }
  }
}

}  // namespace kiln::gemm::avx512
