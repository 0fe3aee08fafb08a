// AVX-512 build of the stem pooling loops (this directory is compiled with -mavx512f etc.); only
// reached through the dispatch in core/kernels/maxpool3s2_rows.cpp.
#include "core/kernels/maxpool3s2_rows.h"

#define KILN_MAXPOOL3S2_NS avx512
#include "core/kernels/maxpool3s2_rows_impl.h"
