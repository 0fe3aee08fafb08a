// AVX-512 build of the softmax row loop (this directory is compiled with -mavx512f etc.); only
// reached through the dispatch in core/kernels/softmax_row.cpp when active_isa() is avx512.
#include "core/kernels/softmax_row.h"

#define KILN_SOFTMAX_NS avx512
#include "core/kernels/softmax_row_impl.h"

namespace kiln::kernels {

bool softmax_row_f32_avx512(float* row, int64_t n) {
  return avx512::softmax_row_loop(row, n);
}

}  // namespace kiln::kernels
