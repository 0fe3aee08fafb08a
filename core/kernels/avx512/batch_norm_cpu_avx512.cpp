// AVX-512 build of the batch-norm kernels (this directory is compiled with -mavx512f etc., and
// this file also with -ffp-contract=off, see core/CMakeLists.txt: the same bits as the baseline
// build); only reached through the dispatch in core/kernels/batch_norm_cpu.cpp, for f32.
#include "core/kernels/batch_norm_cpu.h"

#define KILN_BN_NS avx512
#include "core/kernels/batch_norm_cpu_impl.h"

namespace kiln::kernels::avx512 {
KILN_BN_INSTANTIATE(float)
}  // namespace kiln::kernels::avx512
