// Plain (baseline x86-64) build of the softmax row loop, and the run-time dispatch between paths.
#include "core/kernels/softmax_row.h"

#include "core/cpu_features.h"

#define KILN_SOFTMAX_NS plain
#include "core/kernels/softmax_row_impl.h"

namespace kiln::kernels {

bool softmax_row_f32_plain(float* row, int64_t n) {
  return plain::softmax_row_loop(row, n);
}

bool softmax_row_f32(float* row, int64_t n) {
  if (active_isa() == IsaLevel::kAvx512) return softmax_row_f32_avx512(row, n);
  return softmax_row_f32_plain(row, n);
}

}  // namespace kiln::kernels
