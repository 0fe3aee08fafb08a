// AVX-512 VNNI kernels of the int8 linear layer (layouts in core/kernels/qgemm_kernels.h):
// vpdpbusd multiplies 4 u8 activations by 4 s8 weights and adds them to a 32-bit lane, exactly,
// so any tiling gives the reference's integers; the float epilogue then runs the reference's
// operations (int8_dequant, + bias, + residual) lane by lane.
#include <immintrin.h>

#include <cstring>

#include "core/kernels/avx512/qgemm_int8_epilogue_avx512.h"
#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx512 {
namespace {

using gemm::avx512::first_n;

ActQuant quantize_row(const float* x, int64_t k, uint8_t* q) {
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int64_t p = 0; p < k; p += 16) {
    const __mmask16 m = first_n(k - p);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + p);  // masked-off lanes read 0: in range
    bad |= _mm512_fpclass_ps_mask(v, 0x99);            // QNaN, +inf, -inf, SNaN
    lo = _mm512_min_ps(lo, v);
    hi = _mm512_max_ps(hi, v);
  }
  const ActQuant aq = act_params(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), bad == 0);
  const int64_t kp = (k + 3) / 4 * 4;
  if (aq.inv == 0.0f) {
    std::memset(q, aq.zp, kp);
    return aq;
  }
  const __m512 inv = _mm512_set1_ps(aq.inv);
  const __m512i zp = _mm512_set1_epi32(aq.zp), zero = _mm512_setzero_si512(),
                top = _mm512_set1_epi32(255);
  for (int64_t p = 0; p < k; p += 16) {
    const __mmask16 m = first_n(k - p);
    // cvtps rounds to nearest even (MXCSR default), as nearbyint does in the plain quantizer.
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + p), inv));
    v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, zp), zero), top);
    _mm_mask_storeu_epi8(q + p, m, _mm512_cvtepi32_epi8(v));
  }
  for (int64_t p = k; p < kp; ++p) q[p] = static_cast<uint8_t>(aq.zp);
  return aq;
}

// R rows x V panels (16 columns each): R * V accumulators of 16 lanes. Rows at or past `rows`
// re-read the last valid row and are not stored.
template <int R, int V>
void micro(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
           const int8_t* bp, int64_t panel_stride, const int32_t* wsum, const float* wscale,
           const float* bias, const float* residual, int64_t ldr, float* y, int64_t ldy,
           int64_t cols) {
  const uint8_t* ar[R];
  for (int r = 0; r < R; ++r) ar[r] = a + (r < rows ? r : rows - 1) * lda;
  __m512i acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_si512();
  }
#pragma GCC unroll 2
  for (int64_t g = 0; g < kgroups; ++g) {
    __m512i b[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_si512(bp + v * panel_stride + g * 64);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t a4;
      std::memcpy(&a4, ar[r] + g * 4, 4);
      const __m512i av = _mm512_set1_epi32(a4);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, b[v]);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < V; ++v) {
    const __mmask16 mask = first_n(cols - 16 * v);
    if (mask == 0) break;
    const __m512i ws = _mm512_maskz_loadu_epi32(mask, wsum + 16 * v);
    const __m512 wsc = _mm512_maskz_loadu_ps(mask, wscale + 16 * v);
    const __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + 16 * v) : __m512{};
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      store_int8_row(acc[r][v], aq[r], ws, wsc, bias != nullptr, bv,
                     residual != nullptr ? residual + r * ldr + 16 * v : nullptr,
                     y + r * ldy + 16 * v, mask);
    }
  }
}

// One row (a decoder step) against `panels` panels, one panel at a time: the strip's bytes are
// read in address order, one sequential stream, where the 8-panel micro-tile read 8 streams
// 12-48 KiB apart. BART-base's int8 LM head GEMV, 2 threads: 1.79 -> 1.54 ms cold, 1.54 -> 1.40
// ms hot (bench_qgemm_bench, 2 interleaved pairs of binaries). Four accumulators over
// alternating k groups hide vpdpbusd's latency; integer sums in any order are the same
// integers, so the bits are those of micro<1, V>.
void row_panels(int64_t kgroups, const uint8_t* a, const ActQuant& aq, const int8_t* bp,
                int64_t stride, int64_t panels, const int32_t* wsum, const float* wscale,
                const float* bias, const float* residual, float* y, int64_t cols) {
  for (int64_t q = 0; q < panels; ++q) {
    const int8_t* b = bp + q * stride;
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                      _mm512_setzero_si512()};
    int64_t g = 0;
    for (; g + 4 <= kgroups; g += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        int32_t a4;
        std::memcpy(&a4, a + (g + u) * 4, 4);
        acc[u] = _mm512_dpbusd_epi32(acc[u], _mm512_set1_epi32(a4),
                                     _mm512_loadu_si512(b + (g + u) * 64));
      }
    }
    for (; g < kgroups; ++g) {
      int32_t a4;
      std::memcpy(&a4, a + g * 4, 4);
      acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(a4), _mm512_loadu_si512(b + g * 64));
    }
    const __m512i sum =
        _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
    const int64_t c0 = q * kPanelCols;
    const __mmask16 mask = first_n(cols - c0);
    store_int8_row(sum, aq, _mm512_maskz_loadu_epi32(mask, wsum + c0),
                   _mm512_maskz_loadu_ps(mask, wscale + c0), bias != nullptr,
                   bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + c0) : __m512{},
                   residual != nullptr ? residual + c0 : nullptr, y + c0, mask);
  }
}

// The last `rest` (< V) panels of a tile in one micro-tile of that width.
template <int R, int V>
void micro_rest(int64_t rest, int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq,
                int64_t rows, const int8_t* bp, int64_t stride, const int32_t* wsum,
                const float* wscale, const float* bias, const float* residual, int64_t ldr,
                float* y, int64_t ldy, int64_t cols) {
  if constexpr (V > 0) {
    if (rest == V) {
      micro<R, V>(kgroups, a, lda, aq, rows, bp, stride, wsum, wscale, bias, residual, ldr, y, ldy,
                  cols);
    } else {
      micro_rest<R, V - 1>(rest, kgroups, a, lda, aq, rows, bp, stride, wsum, wscale, bias,
                           residual, ldr, y, ldy, cols);
    }
  }
}

// Walks the tile's panels V at a time, then the rest in one narrower micro-tile.
template <int R, int V>
void tile_rows(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
               const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
               const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
               int64_t ldy, int64_t cols) {
  int64_t q = 0;
  for (; q + V <= panels; q += V) {
    const int64_t c0 = q * kPanelCols;
    micro<R, V>(kgroups, a, lda, aq, rows, bp + q * stride, stride, wsum + c0, wscale + c0,
                bias != nullptr ? bias + c0 : nullptr,
                residual != nullptr ? residual + c0 : nullptr, ldr, y + c0, ldy, cols - c0);
  }
  if (q < panels) {
    const int64_t c0 = q * kPanelCols;
    micro_rest<R, V - 1>(panels - q, kgroups, a, lda, aq, rows, bp + q * stride, stride, wsum + c0,
                         wscale + c0, bias != nullptr ? bias + c0 : nullptr,
                         residual != nullptr ? residual + c0 : nullptr, ldr, y + c0, ldy,
                         cols - c0);
  }
}

// Row blocking by how many rows the tile has: 8 x 3 panels (24 accumulators, the GEMM case) down
// to one row (a decoder step, bound by reading the weights: row_panels).
void tile(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
          const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
          const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
          int64_t ldy, int64_t cols) {
  for (int64_t i0 = 0; i0 < rows; i0 += 8) {
    const int64_t r = rows - i0 < 8 ? rows - i0 : 8;
    const uint8_t* ai = a + i0 * lda;
    const float* ri = residual != nullptr ? residual + i0 * ldr : nullptr;
    float* yi = y + i0 * ldy;
    if (r > 4) {
      tile_rows<8, 3>(kgroups, ai, lda, aq + i0, r, bp, stride, panels, wsum, wscale, bias, ri, ldr,
                      yi, ldy, cols);
    } else if (r > 2) {
      tile_rows<4, 5>(kgroups, ai, lda, aq + i0, r, bp, stride, panels, wsum, wscale, bias, ri, ldr,
                      yi, ldy, cols);
    } else if (r == 2) {
      tile_rows<2, 8>(kgroups, ai, lda, aq + i0, r, bp, stride, panels, wsum, wscale, bias, ri, ldr,
                      yi, ldy, cols);
    } else {
      row_panels(kgroups, ai, aq[i0], bp, stride, panels, wsum, wscale, bias, ri, yi, cols);
    }
  }
}

}  // namespace

const Int8Kernel& int8_kernel() {
  static const Int8Kernel k{quantize_row, tile, 8};
  return k;
}

}  // namespace kiln::quant::kernels::avx512
