// Plain (baseline x86-64) build of the normalisation row loop, and the run-time dispatch.
#include "core/kernels/norm_row.h"

#include "core/cpu_features.h"

#define KILN_NORM_ROW_NS plain
#include "core/kernels/norm_row_impl.h"

namespace kiln::kernels {

NormRowStats norm_row_f32_plain(const float* x, const float* w, const float* b, float* y, int64_t d,
                                double eps, bool rms) {
  return plain::norm_row(x, w, b, y, d, eps, rms);
}

NormRowStats norm_row_f32(const float* x, const float* w, const float* b, float* y, int64_t d,
                          double eps, bool rms) {
  if (active_isa() == IsaLevel::kAvx512) return norm_row_f32_avx512(x, w, b, y, d, eps, rms);
  return norm_row_f32_plain(x, w, b, y, d, eps, rms);
}

}  // namespace kiln::kernels
