// AVX-512 build of the f32 -> bf16 row loop (this directory is compiled with -mavx512f etc.); only
// reached through the dispatch in core/kernels/bf16_convert.cpp when active_isa() is avx512.
#include "core/kernels/bf16_convert.h"

#define KILN_BF16_NS avx512
#include "core/kernels/bf16_convert_impl.h"

namespace kiln::kernels {

void f32_to_bf16_row_avx512(const float* src, uint16_t* dst, int64_t n) {
  avx512::f32_to_bf16_row(src, dst, n);
}

}  // namespace kiln::kernels
