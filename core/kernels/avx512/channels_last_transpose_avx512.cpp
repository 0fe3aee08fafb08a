// AVX-512 build of the NCHW <-> channels-last row transposes
// (core/kernels/channels_last_transpose.h): blocks of 16 channels x 16 pixels, loaded as 16 vectors
// along one axis (masked at the edges), transposed in registers and stored along the other.
#include "core/kernels/channels_last_transpose.h"

#include <algorithm>

#include "core/kernels/avx512/transpose_avx512.h"

namespace kiln::kernels::avx512 {
namespace {

using gemm::avx512::first_n;  // the first n of 16 lanes

// dst[c * ldd + r] = src[r * lds + c] (+ add[c] where add is given) for r < rows, c < cols: 16 x 16
// blocks, 16 source rows loaded (masked at the edges), transposed, 16 destination rows stored.
void transpose(const float* src, int64_t lds, int64_t rows, int64_t cols, const float* add,
               float* dst, int64_t ldd) {
  for (int64_t c0 = 0; c0 < cols; c0 += 16) {
    const int64_t nc = std::min<int64_t>(16, cols - c0);
    const __mmask16 kc = first_n(nc);
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
      const int64_t nr = std::min<int64_t>(16, rows - r0);
      const __mmask16 kr = first_n(nr);
      __m512 v[16];
      for (int64_t i = 0; i < 16; ++i)  // v[i]: source row r0 + i, columns c0..c0 + 15
        v[i] = i < nr ? _mm512_maskz_loadu_ps(kc, src + (r0 + i) * lds + c0) : _mm512_setzero_ps();
      gemm::avx512::transpose16(v);  // v[j]: column c0 + j, rows r0..r0 + 15
      for (int64_t j = 0; j < nc; ++j) {
        const __m512 out = add ? _mm512_add_ps(v[j], _mm512_set1_ps(add[c0 + j])) : v[j];
        _mm512_mask_storeu_ps(dst + (c0 + j) * ldd + r0, kr, out);
      }
    }
  }
}

}  // namespace

void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd) {
  transpose(src, plane, channels, count, nullptr, dst, ldd);
}

void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane) {
  transpose(src, lds, count, channels, bias, dst, plane);
}

}  // namespace kiln::kernels::avx512
