// CPU kernels of conv2d (core/ops/conv2d.cpp holds its checks and autograd record). All arrays are
// contiguous NCHW / [Cout, Cin/groups, kh, kw]. Two paths:
//   - conv2d_forward / conv2d_backward: per group and chunk of samples, one GEMM on kiln's own
//     GEMM (core/gemm.h) over the samples' columns side by side: a pointwise (1x1, stride 1, no
//     padding) convolution's columns are the input rows themselves; any other shape goes through
//     im2col (backward: col2im);
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

// y = conv(x, w) + b (b may be null). bf16 (f32 only; bf16 autocast, core/autocast.h): the GEMMs
// take bf16-rounded operands and accumulate in f32; im2col, col2im, bias and the output stay f32.
template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                    bool bf16 = false);
// Any of gx, gw, gb may be null (not wanted). Each wanted one is overwritten. bf16: as forward,
// for both GEMMs (the output gradient, the weight and the columns rounded to bf16).
template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw,
                     T* gb, bool bf16 = false);

template <typename T>
void conv2d_forward_reference(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_reference(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx,
                               T* gw, T* gb);

}  // namespace kiln::kernels
