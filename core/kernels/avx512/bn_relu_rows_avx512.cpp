// AVX-512 build of the channels-last batch norm + ReLU loops (this directory is compiled with
// -mavx512f etc.); only reached through the dispatch in core/kernels/bn_relu_rows.cpp.
#include "core/kernels/bn_relu_rows.h"

#define KILN_BN_RELU_NS avx512
#include "core/kernels/bn_relu_rows_impl.h"
