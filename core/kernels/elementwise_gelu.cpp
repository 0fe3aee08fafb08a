// Plain (baseline x86-64) build of the GELU loops, and the run-time dispatch between paths.
#include "core/kernels/elementwise_gelu.h"

#include "core/cpu_features.h"

#define KILN_GELU_NS plain
#include "core/kernels/elementwise_gelu_impl.h"

namespace kiln::kernels {

void gelu_f32_plain(const float* x, float* out, int64_t n) {
  plain::gelu_loop(x, out, n);
}
void gelu_backward_f32_plain(const float* g, const float* x, float* dx, int64_t n) {
  plain::gelu_backward_loop(g, x, dx, n);
}

void gelu_f32(const float* x, float* out, int64_t n) {
  if (active_isa() == IsaLevel::kAvx512)
    gelu_f32_avx512(x, out, n);
  else
    gelu_f32_plain(x, out, n);
}

void gelu_backward_f32(const float* g, const float* x, float* dx, int64_t n) {
  if (active_isa() == IsaLevel::kAvx512)
    gelu_backward_f32_avx512(g, x, dx, n);
  else
    gelu_backward_f32_plain(g, x, dx, n);
}

}  // namespace kiln::kernels
