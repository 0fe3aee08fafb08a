// The products of the Winograd F(2x2, 3x3) convolution under bf16 mixed precision on AMX tiles
// (TDPBF16PS), for core/kernels/winograd_f2x3.h's winograd_f2x3_tiles_bf16: per position xi of
// the transformed tile, the tiles' transformed inputs (rounded to bf16 here) times the transformed
// weights (bf16, winograd_f2x3_weights_bf16's layout), accumulated in f32.
#pragma once

#include <cstdint>

namespace kiln::kernels::amx {

// m[(xi * rows + r) * cout + o] = sum over k of bf16(v[xi * ldv + r * cin + k]) * uh(xi, k, o)
// for r < rows = count rounded up to 16 (rows past count are zeros' products), o < cout (a
// multiple of 16). uh: [positions][kp / 2][cout][2] with kp = cin
// rounded up to 32 (zero-padded).
void winograd_bf16_products(const float* v, int64_t ldv, int64_t count, int64_t cin,
                            const uint16_t* uh, int64_t cout, int64_t positions, float* m);

}  // namespace kiln::kernels::amx
