// The input gradient of 3x3 convolutions with stride 1, padding 1, no dilation and one group, on
// f32 NCHW tensors, by Winograd F(2x2, 3x3) (core/kernels/winograd_f2x3.h): it is the padded
// correlation of the output gradient with the kernel turned by 180 degrees and its two channel
// axes swapped, again such a convolution. conv2d_backward takes it for f32 where it applies; the
// weight gradient stays on the shifted-plane GEMMs (conv2d_shifted.h).
// Why: the shifted path packs its B operand once per kernel tap (9 times); here the output
// gradient is transposed once into a channels-last copy (no border: the Winograd kernel reads
// zeros outside the image) and transformed once, and
// the products do 16 multiplications per 2x2 tile and channel pair instead of 36. DenseNet121's
// training step at 8 x 224^2: 1-3% faster (3 interleaved pairs).
// Why not the forward too (it was measured: 7% with both): Winograd's rounding is relative to its
// transformed terms, several times the output near zero, so more pre-activations land on the
// other side of a ReLU than with the direct sum, and gradients deep in the net move with them:
// DenseNet121's eval-mode gradients against f64 went from 6e-7 to 3.8e-3 (PyTorch: 1.7e-4). The
// input gradient feeds no such decision. (The no-grad inference engine, nn/densenet_inference.h,
// does run its forward this way: there only the logits matter, within 5e-7 of torchvision's.)
// Results differ from the GEMM path in the last bits: within 1e-5 relative of the f64 reference
// in tests. Bit-identical across thread counts: every tile's arithmetic is fixed, threads only
// split images, rows and tile ranges.
#pragma once

#include "core/kernels/conv2d_cpu.h"

namespace kiln::kernels {

// Where the Winograd path applies: kernel 3x3, stride 1, padding 1, dilation 1, one group, and
// enough channels on both sides for the products' register tiles (at least 16 in and out).
bool conv2d_winograd_applies(const ConvGeometry& g);

// gx = the input gradient of that convolution for output gradient gy (overwritten).
void conv2d_backward_input_winograd(const ConvGeometry& g, const float* w, const float* gy,
                                    float* gx);

}  // namespace kiln::kernels
