// Unit-stride convolutions without im2col ("shifted planes"). Each input plane is copied once into
// a zero-bordered buffer of (h + 2 ph) x (w + 2 pw) positions, the samples of a chunk side by
// side. In that layout kernel tap (i, j) reads every output position's input at one fixed offset,
// i * dh * Wp + j * dw (Wp the padded width), so the convolution is kh * kw GEMMs, one per tap,
// each reading the buffer in place at its offset and accumulating into one output matrix laid
// out on the same padded grid (its border columns and rows hold values nobody reads). The
// backward passes are the same GEMMs transposed: the input gradient reads a zero-bordered copy of
// the output gradient at the negated offsets, and the weight gradient is one GEMM per tap
// against the shifted input.
// Why: im2col materialises kh * kw copies of the input (a DenseNet 3x3 bottleneck conv writes a
// 115 MB column matrix per batch of 8 at 56 x 56), and col2im adds them back; together they were
// a quarter of a DenseNet121 training step. The padded copy is one input's worth, and the GEMMs
// pack their operands from it directly.
// Same contract as conv2d_cpu.h: contiguous NCHW, results bit-identical across thread counts
// (each GEMM is; the taps and sample chunks are summed in a fixed order). Results differ from the
// im2col path in the last bits (another summation order); tests compare both with the reference.
#pragma once

#include <cstdint>

#include "core/kernels/conv2d_cpu.h"

namespace kiln::kernels {

// True where the shifted-plane path applies: unit stride in both directions and not a plain
// pointwise convolution (that one is already a GEMM on the input rows).
bool conv2d_shifted_applies(const ConvGeometry& g);

// As conv2d_forward / conv2d_backward. max_chunk_elements caps the padded input (and output)
// buffers of one chunk of samples; the default keeps each under 64 MB of f32. Tests lower it to
// exercise several chunks.
template <typename T>
void conv2d_forward_shifted(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                            int64_t max_chunk_elements = int64_t(1) << 24);
template <typename T>
void conv2d_backward_shifted(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx,
                             T* gw, T* gb, int64_t max_chunk_elements = int64_t(1) << 24);

}  // namespace kiln::kernels
