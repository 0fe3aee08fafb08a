// Helpers shared by the convolution kernels (conv2d_cpu.cpp's im2col path and conv2d_shifted.cpp):
// the GEMM by element type, the f64 accumulator of f32 sums, task grains, scratch buffers and the
// bias gradient. Internal to core/kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/gemm.h"
#include "core/kernels/conv2d_cpu.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln::kernels::conv_detail {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

inline void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm::sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
                   const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm::dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// Grain so that a task moves at least ~16k elements.
inline int64_t grain_for(int64_t per_item) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(per_item, 1));
}

// A scratch buffer from the tensor allocator (reused memory, not freshly zeroed pages).
template <typename T>
Tensor scratch(int64_t n) {
  return Tensor::empty({n}, dtype_of<T>::value);
}

// fn(n0, nb, gr) for each chunk of samples [n0, n0 + nb) of at most `chunk` samples and each
// group gr, in order (the order the weight gradient is accumulated in).
template <typename Fn>
void for_each_chunk(const ConvGeometry& g, int64_t chunk, Fn fn) {
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk)
    for (int64_t gr = 0; gr < g.groups; ++gr) fn(n0, std::min(chunk, g.n - n0), gr);
}

// gb[c] = the sum of gy over samples and positions of output channel c, in a fixed order.
template <typename T>
void bias_gradient(const ConvGeometry& g, const T* gy, T* gb) {
  const int64_t P = g.oh * g.ow;
  parallel_for(0, g.cout, grain_for(g.n * P), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      Acc<T> s = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* r = gy + (n * g.cout + c) * P;
        for (int64_t p = 0; p < P; ++p) s += r[p];
      }
      gb[c] = static_cast<T>(s);
    }
  });
}

}  // namespace kiln::kernels::conv_detail
