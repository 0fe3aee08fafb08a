// Portable sgemm micro-kernel (no ISA flags): a 4x8 tile of scalar accumulators that the compiler
// may vectorise with baseline SSE. Only used on CPUs without AVX2 or when KILN_ISA=generic, so it
// favours simplicity; it keeps the same per-element summation order contract as the SIMD kernels.
#include "core/kernels/sgemm_kernels.h"

namespace kiln::gemm::generic {
namespace {

constexpr int64_t kMr = 4;
constexpr int64_t kNr = 8;

void pack_a(bool trans_a, const float* a, int64_t lda, int64_t m, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr, dst += kMr * kc) {
    const int64_t rows = m - i0 < kMr ? m - i0 : kMr;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < kMr; ++r) {
        dst[k * kMr + r] = r >= rows ? 0.0f : trans_a ? a[k * lda + i0 + r] : a[(i0 + r) * lda + k];
      }
    }
  }
}

void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t n, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += kNr, dst += kNr * kc) {
    const int64_t cols = n - j0 < kNr ? n - j0 : kNr;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t c = 0; c < kNr; ++c) {
        dst[k * kNr + c] = c >= cols ? 0.0f : trans_b ? b[(j0 + c) * ldb + k] : b[k * ldb + j0 + c];
      }
    }
  }
}

void micro_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int64_t mr,
                  int64_t nr, float alpha, float beta) {
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k, ap += kMr, bp += kNr) {
    for (int i = 0; i < kMr; ++i) {
      for (int j = 0; j < kNr; ++j) acc[i][j] += ap[i] * bp[j];
    }
  }
  for (int64_t i = 0; i < mr; ++i) {
    for (int64_t j = 0; j < nr; ++j) {
      float& out = c[i * ldc + j];
      out = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * out;
    }
  }
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel k{kMr, kNr, 1, pack_a, pack_b, micro_kernel, nullptr, nullptr};
  return k;
}

}  // namespace kiln::gemm::generic
