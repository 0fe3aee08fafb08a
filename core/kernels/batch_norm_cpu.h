// CPU kernels of batch_norm (core/ops/batch_norm.cpp holds its checks, running-statistics update
// and autograd record). x is contiguous [n, c, inner]; statistics are per channel over n * inner
// elements. Each channel is handled by one thread, its sums taken in a fixed order and, for f32,
// in f64, so results do not depend on the thread count.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// mean and the biased variance per channel, two passes (mean first) for accuracy.
template <typename T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, T* mean, T* var);

// y = (x - mean) * invstd * w + b per channel; w, b may be null (1, 0). With relu, y is then
// max(y, 0) (NaN -> 0, as relu()): batch_norm_relu's forward in the same pass.
template <typename T>
void batch_norm_forward(const T* x, int64_t n, int64_t c, int64_t inner, const T* mean,
                        const T* invstd, const T* w, const T* b, T* y, bool relu = false);

// With xhat = (x - mean) * invstd, M = n * inner: gw = sum g * xhat, gb = sum g, and
//   batch statistics: gx = w * invstd * (g - sum(g) / M - xhat * sum(g * xhat) / M);
//   fixed statistics: gx = g * w * invstd.
// Any of gx, gw, gb may be null. With relu_out (batch_norm_relu's output), g is first masked to
// where relu_out > 0, in the same passes (ReLU's backward fused in).
template <typename T>
void batch_norm_backward(const T* gy, const T* x, int64_t n, int64_t c, int64_t inner,
                         const T* mean, const T* invstd, const T* w, bool batch_stats, T* gx, T* gw,
                         T* gb, const T* relu_out = nullptr);

// The individual builds, for tests (bit-identical by construction; the AVX-512 one is f32 only).
namespace plain {
template <typename T>
void batch_norm_stats(const T*, int64_t, int64_t, int64_t, T*, T*);
template <typename T>
void batch_norm_forward(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,
                        T*, bool);
template <typename T>
void batch_norm_backward(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*,
                         const T*, bool, T*, T*, T*, const T*);
}  // namespace plain
namespace avx512 {
template <typename T>
void batch_norm_stats(const T*, int64_t, int64_t, int64_t, T*, T*);
template <typename T>
void batch_norm_forward(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,
                        T*, bool);
template <typename T>
void batch_norm_backward(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*,
                         const T*, bool, T*, T*, T*, const T*);
}  // namespace avx512

}  // namespace kiln::kernels
