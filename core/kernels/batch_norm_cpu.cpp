// Baseline build of the batch-norm kernels (core/kernels/batch_norm_cpu_impl.h) and the run-time
// dispatch: f32 takes the AVX-512 build where the CPU has it (the same bits, see the impl header).
#include "core/kernels/batch_norm_cpu.h"

#include "core/cpu_features.h"

#define KILN_BN_NS plain
#include "core/kernels/batch_norm_cpu_impl.h"

namespace kiln::kernels {

namespace plain {
KILN_BN_INSTANTIATE(float)
KILN_BN_INSTANTIATE(double)
}  // namespace plain

template <typename T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, T* mean, T* var) {
  if constexpr (std::is_same_v<T, float>)
    if (avx512_active()) return avx512::batch_norm_stats(x, n, c, inner, mean, var);
  plain::batch_norm_stats(x, n, c, inner, mean, var);
}

template <typename T>
void batch_norm_forward(const T* x, int64_t n, int64_t c, int64_t inner, const T* mean,
                        const T* invstd, const T* w, const T* b, T* y, bool relu) {
  if constexpr (std::is_same_v<T, float>)
    if (avx512_active())
      return avx512::batch_norm_forward(x, n, c, inner, mean, invstd, w, b, y, relu);
  plain::batch_norm_forward(x, n, c, inner, mean, invstd, w, b, y, relu);
}

template <typename T>
void batch_norm_backward(const T* gy, const T* x, int64_t n, int64_t c, int64_t inner,
                         const T* mean, const T* invstd, const T* w, bool batch_stats, T* gx, T* gw,
                         T* gb, const T* relu_out) {
  if constexpr (std::is_same_v<T, float>)
    if (avx512_active())
      return avx512::batch_norm_backward(gy, x, n, c, inner, mean, invstd, w, batch_stats, gx, gw,
                                         gb, relu_out);
  plain::batch_norm_backward(gy, x, n, c, inner, mean, invstd, w, batch_stats, gx, gw, gb,
                             relu_out);
}

KILN_BN_INSTANTIATE(float)
KILN_BN_INSTANTIATE(double)

}  // namespace kiln::kernels
