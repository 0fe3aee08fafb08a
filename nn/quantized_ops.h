// The forwards of layers holding quantized weights (core/quant_format.h): a Linear through
// quant::linear_quant with the same fused epilogue as linear_prepacked, an Embedding by
// dequantizing the gathered rows only. Inference only: no autograd record is made, so an input
// that requires grad is refused with the tensor's name.
#pragma once

#include <string>
#include <vector>

#include "core/ops.h"
#include "core/qgemm.h"

namespace kiln::nn {

// activation(x w^T + bias) + residual on the quantized w [n, k]; x [..., k] f32.
Tensor linear_quantized(const Tensor& x, const quant::PackedQuantB& w, const Tensor& bias,
                        LinearActivation activation, const Tensor& residual,
                        const std::string& name);

// One layer of linears_quantized_shared_input: its weight, bias (may be undefined) and name.
struct QuantizedLinearRef {
  const quant::PackedQuantB* w;
  Tensor bias;
  std::string name;
};
// x w_i^T + bias_i for every layer, the weights all of one format and input size: x is quantized
// once and one parallel region runs every product (quant::linear_quant_shared_input). Each result
// has the bits linear_quantized gives it alone.
std::vector<Tensor> linears_quantized_shared_input(const Tensor& x,
                                                   const std::vector<QuantizedLinearRef>& layers);

// rows: U8 [num, row_bytes(format, dim)]; ids any integer tensor; result [ids..., dim] f32.
Tensor embedding_quantized(quant::Format format, int64_t num, int64_t dim, const Tensor& rows,
                           const Tensor& ids, const std::string& name);

}  // namespace kiln::nn
