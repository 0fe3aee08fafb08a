// AVX-512 build of the GELU loops (this directory is compiled with -mavx512f etc.); only reached
// through the dispatch in core/kernels/elementwise_gelu.cpp when active_isa() is avx512.
#include "core/kernels/elementwise_gelu.h"

#define KILN_GELU_NS avx512
#include "core/kernels/elementwise_gelu_impl.h"

namespace kiln::kernels {

void gelu_f32_avx512(const float* x, float* out, int64_t n) {
  avx512::gelu_loop(x, out, n);
}
void gelu_backward_f32_avx512(const float* g, const float* x, float* dx, int64_t n) {
  avx512::gelu_backward_loop(g, x, dx, n);
}

}  // namespace kiln::kernels
