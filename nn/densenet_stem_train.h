// DenseNet's ImageNet stem in training, conv0 (k x k / stride s, no bias) + norm0 (batch
// statistics) + relu0 + pool0 (max 3x3 / 2, padding 1), as one autograd op on channels-last rows.
// The op path runs four ops: conv2d gathers NCHW columns (im2col) and packs them for the GEMM,
// batch_norm, relu and max_pool2d each pass over the [N, 64, H/2, W/2] map and keep a copy of it
// (and max_pool2d an int64 index per pooled value) for backward: 50 ms of a DenseNet121 training
// step at 8 x 224^2, 2 threads. Here:
//   - conv0 runs as the inference stem's (nn/densenet_stem.h): one GEMM per output row over its
//     receptive fields gathered from a zero-bordered channels-last copy of the pixels;
//   - norm0 + ReLU + pool0 is one pass (kernels::bn_relu_maxpool3s2_row) that keeps one byte per
//     pooled value: which window position won, or that no gradient passes (the pooled value is
//     not positive, so the ReLU before it blocks the gradient);
//   - backward sums norm0's two per-channel reductions over the pooled values only (the gradient
//     reaches a quarter of the conv's pixels at most), then per band of conv rows scatters the
//     pooled gradient to the winners, applies norm0's backward and accumulates conv0's weight
//     gradient (a GEMM against the band's regathered fields) while the band is in L2: the input
//     gradient of norm0 is never a full tensor.
// Kept for backward: the padded pixels, conv0's output (norm0's input), the winner bytes and the
// statistics. The pixels get no gradient (the op applies only when they need none).
// Same maths as the op path within float rounding (the tests compare both, values, running
// statistics and every gradient); results do not depend on the thread count (fixed ranges and
// bands, their sums added in order). Under bf16 autocast the stem stays f32, as the op path's
// convolutions do.
#pragma once

#include "core/tensor.h"

namespace kiln::nn {

class Conv2d;
class BatchNorm2d;

// Whether densenet_stem_train handles this stem: grad recording on, f32 [N, C, H, W] pixels that
// need no gradient, conv0 a float square-kernel convolution without bias (equal strides, equal
// padding, no dilation or groups) over C channels, norm0 in training mode with f32 parameters,
// and at least two conv outputs.
bool densenet_stem_train_applies(const Tensor& x, const Conv2d& conv0, const BatchNorm2d& norm0);

// max_pool2d(relu(norm0(conv0(x))), 3, 2, 1) as [N, C0, H1', W1'] NCHW, recorded for autograd
// (inputs: conv0's weight, norm0's weight and bias); norm0's running statistics are updated as
// its batch_norm would update them.
Tensor densenet_stem_train(const Tensor& x, const Conv2d& conv0, const BatchNorm2d& norm0);

}  // namespace kiln::nn
