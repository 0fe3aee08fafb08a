// AVX-512 build of the channels-last training batch norm loops (this directory is compiled with
// -mavx512f etc.); only reached through the dispatch in core/kernels/bn_rows_train.cpp.
#include "core/kernels/bn_rows_train.h"

#define KILN_BN_ROWS_TRAIN_NS avx512
#include "core/kernels/bn_rows_train_impl.h"
