// AVX-512 build of the normalisation row loop (this directory is compiled with -mavx512f etc.);
// only reached through the dispatch in core/kernels/norm_row.cpp.
#include "core/kernels/norm_row.h"

#define KILN_NORM_ROW_NS avx512
#include "core/kernels/norm_row_impl.h"

namespace kiln::kernels {

NormRowStats norm_row_f32_avx512(const float* x, const float* w, const float* b, float* y,
                                 int64_t d, double eps, bool rms) {
  return avx512::norm_row(x, w, b, y, d, eps, rms);
}

}  // namespace kiln::kernels
