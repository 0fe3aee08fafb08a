// AVX2 kernels of the int8 linear layer (layouts in core/kernels/qgemm_kernels.h), for CPUs
// without AVX-512 VNNI. vpmaddubsw (u8 x s8) would be the obvious instruction, but it saturates
// its 16-bit pair sums (255 * 127 * 2 > 32767), so results would depend on the data; instead both
// operands are widened to 16 bits and vpmaddwd forms exact 32-bit pair sums. The integer results
// are therefore the reference's, and the float epilogue runs the reference's operations.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx2 {
namespace {

ActQuant quantize_row(const float* x, int64_t k, uint8_t* q) {
  __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps(), bad8 = _mm256_setzero_ps();
  const __m256 inf = _mm256_set1_ps(INFINITY), sign = _mm256_set1_ps(-0.0f);
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    const __m256 v = _mm256_loadu_ps(x + p);
    // !(|v| < inf): true for +-inf and NaN.
    bad8 = _mm256_or_ps(bad8, _mm256_cmp_ps(_mm256_andnot_ps(sign, v), inf, _CMP_NLT_UQ));
    lo8 = _mm256_min_ps(lo8, v);
    hi8 = _mm256_max_ps(hi8, v);
  }
  alignas(32) float lo_l[8], hi_l[8];
  _mm256_store_ps(lo_l, lo8);
  _mm256_store_ps(hi_l, hi8);
  float lo = 0.0f, hi = 0.0f;
  for (int j = 0; j < 8; ++j) {
    lo = std::min(lo, lo_l[j]);
    hi = std::max(hi, hi_l[j]);
  }
  bool finite = _mm256_movemask_ps(bad8) == 0;
  for (; p < k; ++p) {
    finite = finite && std::isfinite(x[p]);
    lo = std::min(lo, x[p]);
    hi = std::max(hi, x[p]);
  }
  const ActQuant aq = act_params(lo, hi, finite);
  const int64_t kp = (k + 3) / 4 * 4;
  if (aq.inv == 0.0f) {
    std::memset(q, aq.zp, kp);
    return aq;
  }
  const __m256 inv = _mm256_set1_ps(aq.inv);
  const __m256i zp = _mm256_set1_epi32(aq.zp), zero = _mm256_setzero_si256(),
                top = _mm256_set1_epi32(255);
  p = 0;
  for (; p + 8 <= k; p += 8) {
    // cvtps rounds to nearest even (MXCSR default), as nearbyint does in the plain quantizer.
    __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p), inv));
    v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, zp), zero), top);
    alignas(32) int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
    for (int j = 0; j < 8; ++j) q[p + j] = static_cast<uint8_t>(t[j]);
  }
  for (; p < kp; ++p) {
    int32_t v = aq.zp;
    if (p < k) v = std::clamp(static_cast<int32_t>(std::nearbyint(x[p] * aq.inv)) + aq.zp, 0, 255);
    q[p] = static_cast<uint8_t>(v);
  }
  return aq;
}

// R rows x H half-panels of 8 columns. Per k group, a half-panel's 32 weight bytes widen to two
// vectors of 16 x s16 (columns 0-3 and 4-7, 4 k values each); the row's 4 activations, widened
// to s16 beforehand, are broadcast as 64 bits. vpmaddwd then leaves two 32-bit partial sums per
// column, which are added pairwise after the k loop. `aw` holds the R widened rows (kp s16 each).
template <int R, int H>
void micro(int64_t kgroups, const int16_t* aw, int64_t kp, const ActQuant* aq, int64_t rows,
           const int8_t* bp, int64_t panel_stride, const int32_t* wsum, const float* wscale,
           const float* bias, const float* residual, int64_t ldr, float* y, int64_t ldy,
           int64_t cols) {
  const int16_t* ar[R];
  for (int r = 0; r < R; ++r) ar[r] = aw + (r < rows ? r : rows - 1) * kp;
  __m256i acc[R][H][2];
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < H; ++h) acc[r][h][0] = acc[r][h][1] = _mm256_setzero_si256();
  for (int64_t g = 0; g < kgroups; ++g) {
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      const int8_t* b = bp + (h / 2) * panel_stride + g * 64 + (h % 2) * 32;
      const __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
      const __m256i b1 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16)));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        int64_t a4;
        std::memcpy(&a4, ar[r] + g * 4, 8);
        const __m256i av = _mm256_set1_epi64x(a4);
        acc[r][h][0] = _mm256_add_epi32(acc[r][h][0], _mm256_madd_epi16(av, b0));
        acc[r][h][1] = _mm256_add_epi32(acc[r][h][1], _mm256_madd_epi16(av, b1));
      }
    }
  }
  for (int h = 0; h < H; ++h) {
    const int64_t c0 = h * 8;
    if (c0 >= cols) break;
    const int64_t n = cols - c0 < 8 ? cols - c0 : 8;
    alignas(32) int32_t ws_l[8] = {};
    alignas(32) float wsc_l[8] = {}, bias_l[8] = {};
    for (int64_t j = 0; j < n; ++j) {
      ws_l[j] = wsum[c0 + j];
      wsc_l[j] = wscale[c0 + j];
      if (bias != nullptr) bias_l[j] = bias[c0 + j];
    }
    const __m256i ws = _mm256_load_si256(reinterpret_cast<const __m256i*>(ws_l));
    const __m256 wsc = _mm256_load_ps(wsc_l);
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      // hadd gives columns [0 1 4 5 | 2 3 6 7]; the permute puts them in order.
      const __m256i sum =
          _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][h][0], acc[r][h][1]), 0xD8);
      const __m256i s = _mm256_sub_epi32(sum, _mm256_mullo_epi32(_mm256_set1_epi32(aq[r].zp), ws));
      // int8_dequant: float(acc) * (x_scale * w_scale), then the bias and residual additions.
      __m256 out =
          _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(_mm256_set1_ps(aq[r].scale), wsc));
      __asm__("" : "+x"(out));  // no FMA contraction with the bias addition (see the AVX-512 file)
      if (bias != nullptr) out = _mm256_add_ps(out, _mm256_load_ps(bias_l));
      alignas(32) float o[8];
      _mm256_store_ps(o, out);
      for (int64_t j = 0; j < n; ++j) {
        float v = o[j];
        if (residual != nullptr) v = v + residual[r * ldr + c0 + j];
        y[r * ldy + c0 + j] = v;
      }
    }
  }
}

thread_local std::vector<int16_t> t_widened;

template <int R, int H>
void tile_rows(int64_t kgroups, const int16_t* aw, int64_t kp, const ActQuant* aq, int64_t rows,
               const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
               const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
               int64_t ldy, int64_t cols) {
  const int64_t halves = (cols + 7) / 8;
  int64_t h = 0;
  // h stays a multiple of H (1 or even), so a group of H > 1 starts at a panel boundary.
  for (; h + H <= halves; h += H) {
    const int64_t c0 = h * 8;
    micro<R, H>(kgroups, aw, kp, aq, rows, bp + (h / 2) * stride + (h % 2) * 32, stride, wsum + c0,
                wscale + c0, bias != nullptr ? bias + c0 : nullptr,
                residual != nullptr ? residual + c0 : nullptr, ldr, y + c0, ldy, cols - c0);
  }
  for (; h < halves; ++h) {
    const int64_t c0 = h * 8;
    // One half-panel: the panel's address plus 32 bytes for an odd half.
    micro<R, 1>(kgroups, aw, kp, aq, rows, bp + (h / 2) * stride + (h % 2) * 32, stride, wsum + c0,
                wscale + c0, bias != nullptr ? bias + c0 : nullptr,
                residual != nullptr ? residual + c0 : nullptr, ldr, y + c0, ldy, cols - c0);
  }
  (void)panels;
}

void tile(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
          const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
          const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
          int64_t ldy, int64_t cols) {
  const int64_t kp = kgroups * 4;
  for (int64_t i0 = 0; i0 < rows; i0 += 4) {
    const int64_t r = rows - i0 < 4 ? rows - i0 : 4;
    t_widened.resize(static_cast<size_t>(4 * kp));
    for (int64_t i = 0; i < r; ++i) {
      const uint8_t* src = a + (i0 + i) * lda;
      for (int64_t p = 0; p < kp; ++p) t_widened[i * kp + p] = src[p];
    }
    const float* ri = residual != nullptr ? residual + i0 * ldr : nullptr;
    if (r > 1) {
      tile_rows<4, 1>(kgroups, t_widened.data(), kp, aq + i0, r, bp, stride, panels, wsum, wscale,
                      bias, ri, ldr, y + i0 * ldy, ldy, cols);
    } else {
      tile_rows<1, 4>(kgroups, t_widened.data(), kp, aq + i0, r, bp, stride, panels, wsum, wscale,
                      bias, ri, ldr, y + i0 * ldy, ldy, cols);
    }
  }
}

}  // namespace

const Int8Kernel& int8_kernel() {
  static const Int8Kernel k{quantize_row, tile, 8};
  return k;
}

}  // namespace kiln::quant::kernels::avx2
