// Convolutions on quantized weights (core/quant_format.h), run as their GEMMs. A weight
// [c_out, c_in, kh, kw] is quantized as c_out rows of k = c_in * kh * kw in its own memory order
// (c, i, j): int8 per output channel, q4_0 / q4_1 in blocks of 32 along that k. The input is laid
// out as one row per output pixel holding its receptive field in the same (c, i, j) order (im2col;
// for a 1x1 stride-1 convolution that row is the pixel's channels), so the convolution is
// quant::linear_quant of those rows against the weight, with the bias in the GEMM's epilogue.
// Inference only, groups = 1 (any stride, padding, dilation).
//
//   conv2d_quantized            chunks of pixel rows (boundaries depend only on the shapes), each
//                               gathered into a scratch operand and multiplied by linear_quant,
//                               so results are bit-identical across thread counts.
//   conv2d_quantized_reference  the plain loop beside it: every pixel row gathered, then
//                               quant::linear_quant_reference. int8 gives the same bits as the
//                               fast path (both quantize each pixel row the same way and sum in
//                               integers); q4 agrees to float rounding (its sums run in another
//                               order).
// Dequantizing the weight and running the float conv2d is the third path tests compare against:
// it differs from int8 by the activations' own 8-bit rounding.
#pragma once

#include <functional>
#include <string>

#include "core/conv_ops.h"
#include "core/qgemm.h"

namespace kiln::nn {

// x [N, c_in, H, W] (f32, or converted) -> [N, c_out, Ho, Wo] f32. weight_shape is the float
// weight's [c_out, c_in, kh, kw]; w holds c_out rows of c_in * kh * kw. `name` names the tensor in
// errors. Refuses inputs that require grad (quantized models run inference only).
Tensor conv2d_quantized(const Tensor& x, const quant::PackedQuantB& w, const Shape& weight_shape,
                        const Tensor& bias, const Conv2dOptions& options, const std::string& name);

// x as the rows a convolution's GEMM multiplies its weight by: one row per output pixel (image,
// oy, ox), its receptive field in the weight's (c, i, j) order, zeros in the padding. Handed to
// `fn` as f32 [m, c_in * kh * kw] chunks of at most `chunk` rows, in order, so that a large batch
// never needs the whole im2col matrix at once.
void for_each_receptive_chunk(const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& options, int64_t chunk,
                              const std::function<void(const Tensor& rows)>& fn);

// The plain reference on the canonical rows (U8 [c_out, row_bytes(format, k)]).
Tensor conv2d_quantized_reference(const Tensor& x, quant::Format format, const Tensor& rows,
                                  const Shape& weight_shape, const Tensor& bias,
                                  const Conv2dOptions& options);

}  // namespace kiln::nn
