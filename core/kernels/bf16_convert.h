// f32 -> bf16 conversion of arrays for the mixed-precision GEMMs (core/autocast.h): the same
// rounding as kiln::f32_to_bf16 (nearest even, NaN kept quiet), written branch-free so the
// compiler vectorises it, and split over the thread pool for large arrays (each element's result
// does not depend on the split).
#pragma once

#include <cstdint>

namespace kiln::kernels {

// dst[i] = f32_to_bf16(src[i]) for i in [0, n).
void f32_to_bf16_array(const float* src, uint16_t* dst, int64_t n);
// A rows x cols matrix with row stride `ld` (elements) into a dense [rows, cols] one.
void f32_to_bf16_matrix(const float* src, int64_t ld, int64_t rows, int64_t cols, uint16_t* dst);

}  // namespace kiln::kernels
