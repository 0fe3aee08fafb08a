// The weight gradient of a 3x3 convolution (stride 1, zero padding 1) by Winograd F(2x2, 3x3)
// (Lavin & Gray, CVPR 2016): with Y = A' [U . V] A per 2x2 output tile (U = G g G' the kernel's
// transform, V = B' d B the 4x4 input patch's), dL/dU = sum over tiles of V . (A dY A'), and
// dL/dg = G' (dL/dU) G. Per channel pair that is 16 products per tile where the direct form
// needs 36 (4 outputs x 9 taps), so the 16 GEMMs [cin x tiles] x [tiles x cout] do 2.25x less
// work than the nine per-tap GEMMs. The transforms are additions and halvings.
//
// Operands on zero-bordered channels-last grids, as nn/densenet_block_train.cpp keeps them:
// image i's pixel (y, x) at grid row (i * (h + 2) + y + 1) * (w + 2) + x + 1, the border rows and
// columns zero. Tiles are taken per range of kTiles in fixed groups (each group's sums in its
// own partial, the groups added in order), so the result depends on the shapes only, not on the
// thread count.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// dw [cout, cin, 3, 3] = the weight gradient of the convolution of `a` (cin channels per grid
// row) whose output gradient is `gy` (cout channels per grid row), over n images of h x w.
void winograd_f2x3_weight_grad(const float* a, int64_t cin, const float* gy, int64_t cout,
                               int64_t n, int64_t h, int64_t w, float* dw);

}  // namespace kiln::kernels
