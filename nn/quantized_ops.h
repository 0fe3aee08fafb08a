// The forwards of layers holding quantized weights (core/quant_format.h): a Linear through
// quant::linear_quant with the same fused epilogue as linear_prepacked, an Embedding by
// dequantizing the gathered rows only. Inference only: no autograd record is made, so an input
// that requires grad is refused with the tensor's name.
#pragma once

#include <string>

#include "core/ops.h"
#include "core/qgemm.h"

namespace kiln::nn {

// activation(x w^T + bias) + residual on the quantized w [n, k]; x [..., k] f32.
Tensor linear_quantized(const Tensor& x, const quant::PackedQuantB& w, const Tensor& bias,
                        LinearActivation activation, const Tensor& residual,
                        const std::string& name);

// rows: U8 [num, row_bytes(format, dim)]; ids any integer tensor; result [ids..., dim] f32.
Tensor embedding_quantized(quant::Format format, int64_t num, int64_t dim, const Tensor& rows,
                           const Tensor& ids, const std::string& name);

}  // namespace kiln::nn
