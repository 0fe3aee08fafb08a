// Eval-mode batch norm + ReLU on channels-last rows ([rows, channels], a row = one pixel), fused
// into the copy that feeds a GEMM. DenseNet normalises the block's whole concatenation before
// every 1x1 convolution (pre-activation): the ReLU between the norm and the conv keeps the norm
// from being folded into the weights, but applying it while copying a row chunk into an
// L2-resident GEMM operand costs no separate pass over the feature map (nn/densenet_inference).
// The norm is y = x * scale + shift per channel with scale = invstd * gamma and
// shift = beta - mean * scale, as kernels::batch_norm_forward computes it. The AVX-512 build lets
// GCC contract that into an FMA (the plain build cannot), so the two paths may differ in the last
// bit from each other and from batch_norm_forward; within a path a value never depends on where
// a row or chunk starts, so results do not depend on how threads split the rows.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// out[r * ldo + c] = max(x[r * ldx + c] * scale[c] + shift[c], 0) for r < rows, c < channels.
void bn_relu_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels, const float* scale,
                  const float* shift, float* out, int64_t ldo);

// The same rounded to bf16 (kiln::f32_to_bf16: nearest even) into half (`ldh` apart), for the
// bf16 GEMMs of mixed precision; with `out` (may be null) the f32 values too. Integer rounding,
// so both builds give the same bits.
void bn_relu_rows_bf16(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out, int64_t ldo,
                       uint16_t* half, int64_t ldh);

// The same followed by 2x2 / stride 2 average pooling (floor sizes, no padding) of one NHWC image
// of h x w pixels (pixel (y, x) is row y * w + x, `ldx` apart): output pixel rows [o0, o0 + count)
// of the (h / 2) x (w / 2) result, each ((v00 + v01) + v10 + v11) * 0.25, into out (`ldo` apart).
void bn_relu_avgpool2_rows(const float* x, int64_t ldx, int64_t h, int64_t w, int64_t channels,
                           const float* scale, const float* shift, int64_t o0, int64_t count,
                           float* out, int64_t ldo);

// out[c] = mean over `rows` rows of max(x * scale + shift, 0), summed in row order in f32 and
// divided by rows (global average pooling after the final norm + ReLU).
void bn_relu_mean_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                       const float* scale, const float* shift, float* out);

// out[i] = max(x[i], 0): a gemm::Epilogue activation (elementwise, position-independent).
void relu_f32(const float* x, float* out, int64_t n);

// The individual paths, for tests (each with the signature above).
namespace plain {
void bn_relu_rows(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                  int64_t);
void bn_relu_rows_bf16(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                       int64_t, uint16_t*, int64_t);
void bn_relu_avgpool2_rows(const float*, int64_t, int64_t, int64_t, int64_t, const float*,
                           const float*, int64_t, int64_t, float*, int64_t);
void bn_relu_mean_rows(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*);
void relu_f32(const float*, float*, int64_t);
}  // namespace plain
namespace avx512 {
void bn_relu_rows(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                  int64_t);
void bn_relu_rows_bf16(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                       int64_t, uint16_t*, int64_t);
void bn_relu_avgpool2_rows(const float*, int64_t, int64_t, int64_t, int64_t, const float*,
                           const float*, int64_t, int64_t, float*, int64_t);
void bn_relu_mean_rows(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*);
void relu_f32(const float*, float*, int64_t);
}  // namespace avx512

}  // namespace kiln::kernels
