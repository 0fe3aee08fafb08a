// CPU kernels of conv2d (core/ops/conv2d.cpp holds its checks and autograd record). All arrays are
// contiguous NCHW / [Cout, Cin/groups, kh, kw]. Two paths:
//   - conv2d_forward / conv2d_backward: per group and chunk of samples, one GEMM on kiln's own
//     GEMM (core/gemm.h) over the samples' columns side by side: a pointwise (1x1, stride 1, no
//     padding) convolution's columns are the input rows themselves; a unit-stride one with at
//     least 16 input channels per group goes through conv2d_shifted.h (one GEMM per kernel tap
//     on a zero-bordered copy of the input, no im2col), except the f32 input gradient of a
//     3x3 / stride 1 / padding 1 one, which conv2d_winograd.h computes; any other shape goes
//     through im2col (backward: col2im);
//   - *_reference: plain loops with f64 (for f32) accumulation, kept for tests.
// Both are bit-identical across thread counts: threads only split disjoint outputs (im2col rows,
// col2im channels, output channels), sgemm is thread-count independent, and the weight gradient
// is accumulated over sample chunks in order.
#pragma once

#include <cstdint>

namespace kiln::kernels {

struct ConvGeometry {
  int64_t n, cin, h, w;  // input
  int64_t cout, kh, kw;  // weight [cout, cin / groups, kh, kw]
  int64_t oh, ow;        // output
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

// y = conv(x, w) + b (b may be null).
template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
// Any of gx, gw, gb may be null (not wanted). Each wanted one is overwritten.
template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw,
                     T* gb);

template <typename T>
void conv2d_forward_reference(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_reference(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx,
                               T* gw, T* gb);

}  // namespace kiln::kernels
