// AVX-512 build of the NCHW <-> channels-last row transposes
// (core/kernels/channels_last_transpose.h): blocks of 16 channels x 16 pixels, loaded as 16 vectors
// along one axis (masked at the edges), transposed in registers and stored along the other.
#include "core/kernels/channels_last_transpose.h"

#include <algorithm>

#include "core/kernels/avx512/transpose_avx512.h"

namespace kiln::kernels::avx512 {
namespace {

__mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

}  // namespace

void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd) {
  for (int64_t c0 = 0; c0 < channels; c0 += 16) {
    const int64_t nc = std::min<int64_t>(16, channels - c0);
    const __mmask16 kc = lanes(nc);
    for (int64_t x0 = 0; x0 < count; x0 += 16) {
      const int64_t nx = std::min<int64_t>(16, count - x0);
      const __mmask16 kx = lanes(nx);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i)  // r[i]: channel c0 + i, pixels x0..x0 + 15
        r[i] =
            i < nc ? _mm512_maskz_loadu_ps(kx, src + (c0 + i) * plane + x0) : _mm512_setzero_ps();
      gemm::avx512::transpose16(r);  // r[j]: pixel x0 + j, channels c0..c0 + 15
      for (int64_t j = 0; j < nx; ++j) _mm512_mask_storeu_ps(dst + (x0 + j) * ldd + c0, kc, r[j]);
    }
  }
}

void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane) {
  for (int64_t c0 = 0; c0 < channels; c0 += 16) {
    const int64_t nc = std::min<int64_t>(16, channels - c0);
    const __mmask16 kc = lanes(nc);
    for (int64_t x0 = 0; x0 < count; x0 += 16) {
      const int64_t nx = std::min<int64_t>(16, count - x0);
      const __mmask16 kx = lanes(nx);
      __m512 r[16];
      for (int64_t j = 0; j < 16; ++j)  // r[j]: pixel x0 + j, channels c0..c0 + 15
        r[j] = j < nx ? _mm512_maskz_loadu_ps(kc, src + (x0 + j) * lds + c0) : _mm512_setzero_ps();
      gemm::avx512::transpose16(r);  // r[i]: channel c0 + i, pixels x0..x0 + 15
      for (int64_t i = 0; i < nc; ++i) {
        const __m512 b = _mm512_set1_ps(bias ? bias[c0 + i] : 0.0f);
        _mm512_mask_storeu_ps(dst + (c0 + i) * plane + x0, kx, _mm512_add_ps(r[i], b));
      }
    }
  }
}

}  // namespace kiln::kernels::avx512
