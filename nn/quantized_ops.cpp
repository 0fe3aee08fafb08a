#include "nn/quantized_ops.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/thread_pool.h"

namespace kiln::nn {

Tensor linear_quantized(const Tensor& x, const quant::PackedQuantB& w, const Tensor& bias,
                        LinearActivation activation, const Tensor& residual,
                        const std::string& name) {
  KILN_CHECK(!grad_enabled() || (!x.requires_grad() && !residual.requires_grad()), "'", name,
             "' is quantized (", quant::format_name(w.format()),
             "): it cannot take part in autograd (input ", x.describe(),
             " requires grad); quantized models run inference only");
  const int64_t in = w.k(), outf = w.n();
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == in, "'", name, "': input ", x.describe(),
             " does not match the quantized weight [", outf, ", ", in, "]");
  NoGradGuard ng;
  const Tensor xf = x.dtype() == DType::F32 ? x : x.to(DType::F32);
  Shape out_shape = xf.shape();
  out_shape.back() = outf;
  Tensor out = Tensor::empty(out_shape, DType::F32);
  const Tensor x2 = reshape(contiguous(xf), {-1, in});
  const Tensor o2 = reshape(out, {-1, outf});
  gemm::Epilogue ep;
  Tensor bias_c, res2;
  if (bias.defined()) {
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == outf, "'", name, "': bias ", bias.describe(),
               " does not match ", outf, " outputs");
    bias_c = contiguous(bias.to(DType::F32));
    ep.bias = bias_c.data<float>();
  }
  if (activation == LinearActivation::kGelu) ep.activation = kernels::gelu_f32;
  if (residual.defined()) {
    KILN_CHECK(residual.shape() == out_shape, "'", name, "': residual ", residual.describe(),
               " does not match the output ", out.describe());
    res2 = reshape(contiguous(residual.to(DType::F32)), {-1, outf});
    ep.residual = res2.data<float>();
    ep.ldr = outf;
  }
  if (x2.size(0) > 0 && outf > 0) {
    quant::linear_quant(x2.size(0), x2.data<float>(), std::max<int64_t>(in, 1), w, o2.data<float>(),
                        std::max<int64_t>(outf, 1), ep);
  }
  return out;
}

Tensor embedding_quantized(quant::Format format, int64_t num, int64_t dim, const Tensor& rows,
                           const Tensor& ids, const std::string& name) {
  KILN_CHECK(ids.dtype() == DType::I64 || ids.dtype() == DType::I32, "'", name,
             "': embedding indices must be integers, got ", ids.describe());
  const Tensor idx = contiguous(ids.to(DType::I64));
  Shape out_shape = idx.shape();
  out_shape.push_back(dim);
  Tensor out = Tensor::empty(out_shape, DType::F32);
  const int64_t count = idx.numel();
  const int64_t* id = idx.data<int64_t>();
  for (int64_t i = 0; i < count; ++i)
    KILN_CHECK(id[i] >= 0 && id[i] < num, "'", name, "': index ", id[i], " is out of range for ",
               num, " rows");
  const size_t rb = quant::row_bytes(format, dim);
  const uint8_t* src = static_cast<const uint8_t*>(rows.raw_data());
  float* dst = out.data<float>();
  parallel_for(0, count, std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i)
                   quant::dequantize_rows(format, src + static_cast<size_t>(id[i]) * rb, 1, dim,
                                          dst + i * dim, dim);
               });
  return out;
}

}  // namespace kiln::nn
