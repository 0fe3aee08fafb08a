// f32 -> bf16 conversion of arrays for the mixed-precision GEMMs (core/autocast.h): the same
// rounding as kiln::f32_to_bf16 (nearest even, NaN kept quiet), written branch-free so the
// compiler vectorises it (16 lanes in the AVX-512 build, chosen at run time by active_isa()), and
// split over the thread pool for large arrays (each element's result does not depend on the split
// or on the build: integer operations only).
#pragma once

#include <cstdint>

namespace kiln::kernels {

// dst[i] = f32_to_bf16(src[i]) for i in [0, n).
void f32_to_bf16_array(const float* src, uint16_t* dst, int64_t n);
// A rows x cols matrix with row stride `ld` (elements) into a dense [rows, cols] one.
void f32_to_bf16_matrix(const float* src, int64_t ld, int64_t rows, int64_t cols, uint16_t* dst);
// The same on the calling thread only (no pool tasks), rows `ld_src` and `ld_dst` apart: for
// small blocks converted inside work that already is a pool task (gemm::bf16gemm_f32b rounds each
// B panel as it packs it).
void f32_to_bf16_block(const float* src, int64_t ld_src, int64_t rows, int64_t cols, uint16_t* dst,
                       int64_t ld_dst);

// The row loop's two builds (identical bits), for tests.
void f32_to_bf16_row_plain(const float* src, uint16_t* dst, int64_t n);
void f32_to_bf16_row_avx512(const float* src, uint16_t* dst, int64_t n);

}  // namespace kiln::kernels
