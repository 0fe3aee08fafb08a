// AVX2 sgemm packing + 6x16 micro-kernel. See core/kernels/sgemm_kernels.h for layouts.
#include <immintrin.h>

#include <cstring>

#include "core/kernels/sgemm_kernels.h"

namespace kiln::gemm::avx2 {
namespace {

constexpr int64_t kMr = 6;
constexpr int64_t kNr = 16;

// Lane mask for the first `count` of 8 lanes (AVX2 masked loads/stores take a vector mask).
__m256i lane_mask(int64_t count) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = count < 0 ? 0 : count > 8 ? 8 : static_cast<int>(count);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

void pack_a(bool trans_a, const float* a, int64_t lda, int64_t m, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr, dst += kMr * kc) {
    const int64_t rows = m - i0 < kMr ? m - i0 : kMr;
    for (int64_t k = 0; k < kc; ++k) {
      float* d = dst + k * kMr;
      for (int64_t r = 0; r < rows; ++r)
        d[r] = trans_a ? a[k * lda + i0 + r] : a[(i0 + r) * lda + k];
      for (int64_t r = rows; r < kMr; ++r) d[r] = 0.0f;
    }
  }
}

void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t n, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += kNr, dst += kNr * kc) {
    const int64_t cols = n - j0 < kNr ? n - j0 : kNr;
    if (!trans_b) {
      const __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = b + k * ldb + j0;
        _mm256_storeu_ps(dst + k * kNr, _mm256_maskload_ps(s, m0));
        _mm256_storeu_ps(dst + k * kNr + 8, _mm256_maskload_ps(s + 8, m1));
      }
    } else {
      if (cols < kNr) std::memset(dst, 0, sizeof(float) * kNr * kc);
      for (int64_t c = 0; c < cols; ++c) {
        const float* s = b + (j0 + c) * ldb;
        for (int64_t k = 0; k < kc; ++k) dst[k * kNr + c] = s[k];
      }
    }
  }
}

void micro_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int64_t mr,
                  int64_t nr, float alpha, float beta) {
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(bp);
    const __m256 b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 av = _mm256_broadcast_ss(ap + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
    ap += kMr;
    bp += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256i mask[2] = {lane_mask(nr), lane_mask(nr - 8)};
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    if (i >= mr) break;
    float* row = c + i * ldc;
    for (int j = 0; j < 2; ++j) {
      __m256 r;
      if (beta == 0.0f) {
        r = _mm256_mul_ps(va, acc[i][j]);
      } else {
        const __m256 old = _mm256_maskload_ps(row + 8 * j, mask[j]);
        r = _mm256_fmadd_ps(va, acc[i][j], _mm256_mul_ps(vb, old));
      }
      _mm256_maskstore_ps(row + 8 * j, mask[j], r);
    }
  }
}

// One row over P panels: 2P accumulators in flight (P = 6: 12, as the 6 x 16 tile has), each
// summing its k terms in ascending order exactly as micro_kernel does for one row.
template <int P>
void one_row_panels(int64_t kc, const float* ap, int64_t a_step, const float* bp, int64_t stride,
                    float* c, int64_t cols, float alpha, float beta) {
  __m256 acc[P][2];
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 av = _mm256_broadcast_ss(ap + k * a_step);
#pragma GCC unroll 6
    for (int p = 0; p < P; ++p) {
      const float* b = bp + p * stride + k * kNr;
      acc[p][0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), acc[p][0]);
      acc[p][1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), acc[p][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
    const int64_t nr = cols - p * kNr;
    const __m256i mask[2] = {lane_mask(nr), lane_mask(nr - 8)};
    for (int j = 0; j < 2; ++j) {
      float* dst = c + p * kNr + 8 * j;
      __m256 r;
      if (beta == 0.0f) {
        r = _mm256_mul_ps(va, acc[p][j]);
      } else {
        const __m256 old = _mm256_maskload_ps(dst, mask[j]);
        r = _mm256_fmadd_ps(va, acc[p][j], _mm256_mul_ps(vb, old));
      }
      _mm256_maskstore_ps(dst, mask[j], r);
    }
  }
}

// The AVX2 kernel reads no A rows in place, so the driver never passes extras here.
void micro_one_row(int64_t kc, const float* ap, int64_t a_step, const float* bp, int64_t stride,
                   int64_t panels, float* c, int64_t cols, float alpha, float beta,
                   const TileExtras* /*extras*/) {
  for (int64_t q = 0; q < panels; q += 6) {
    const float* b = bp + q * stride;
    float* cq = c + q * kNr;
    const int64_t left = cols - q * kNr;
    switch (panels - q < 6 ? panels - q : 6) {
      case 1:
        one_row_panels<1>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
      case 2:
        one_row_panels<2>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
      case 3:
        one_row_panels<3>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
      case 4:
        one_row_panels<4>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
      case 5:
        one_row_panels<5>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
      default:
        one_row_panels<6>(kc, ap, a_step, b, stride, cq, left, alpha, beta);
        break;
    }
  }
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel k{kMr, kNr, 1, pack_a, pack_b, micro_kernel, nullptr, micro_one_row};
  return k;
}

}  // namespace kiln::gemm::avx2
