#include "nn/quantized_ops.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/thread_pool.h"

namespace kiln::nn {

namespace {

// The checks every quantized Linear forward makes on its input.
void check_input(const Tensor& x, const quant::PackedQuantB& w, const std::string& name) {
  KILN_CHECK(!grad_enabled() || !x.requires_grad(), "'", name, "' is quantized (",
             quant::format_name(w.format()), "): it cannot take part in autograd (input ",
             x.describe(), " requires grad); quantized models run inference only");
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == w.k(), "'", name, "': input ", x.describe(),
             " does not match the quantized weight [", w.n(), ", ", w.k(), "]");
}

// The bias as the epilogue reads it (f32, contiguous), kept alive in `holder`.
void set_bias(gemm::Epilogue& ep, const Tensor& bias, int64_t outf, Tensor& holder,
              const std::string& name) {
  if (!bias.defined()) return;
  KILN_CHECK(bias.dim() == 1 && bias.size(0) == outf, "'", name, "': bias ", bias.describe(),
             " does not match ", outf, " outputs");
  holder = contiguous(bias.to(DType::F32));
  ep.bias = holder.data<float>();
}

// The output [..., outf] for the input's leading dims.
Tensor output_like(const Tensor& xf, int64_t outf) {
  Shape out_shape = xf.shape();
  out_shape.back() = outf;
  return Tensor::empty(out_shape, DType::F32);
}

}  // namespace

Tensor linear_quantized(const Tensor& x, const quant::PackedQuantB& w, const Tensor& bias,
                        LinearActivation activation, const Tensor& residual,
                        const std::string& name) {
  check_input(x, w, name);
  KILN_CHECK(!grad_enabled() || !residual.requires_grad(), "'", name, "' is quantized (",
             quant::format_name(w.format()), "): it cannot take part in autograd (residual ",
             residual.describe(), " requires grad); quantized models run inference only");
  const int64_t in = w.k(), outf = w.n();
  NoGradGuard ng;
  const Tensor xf = x.dtype() == DType::F32 ? x : x.to(DType::F32);
  Tensor out = output_like(xf, outf);
  const Tensor x2 = reshape(contiguous(xf), {-1, in});
  const Tensor o2 = reshape(out, {-1, outf});
  gemm::Epilogue ep;
  Tensor bias_c, res2;
  set_bias(ep, bias, outf, bias_c, name);
  if (activation == LinearActivation::kGelu) ep.activation = kernels::gelu_f32;
  if (residual.defined()) {
    KILN_CHECK(residual.shape() == out.shape(), "'", name, "': residual ", residual.describe(),
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

std::vector<Tensor> linears_quantized_shared_input(const Tensor& x,
                                                   const std::vector<QuantizedLinearRef>& layers) {
  KILN_CHECK(!layers.empty(), "linears_quantized_shared_input: no layers given");
  for (const QuantizedLinearRef& l : layers) check_input(x, *l.w, l.name);
  const int64_t in = layers[0].w->k();
  NoGradGuard ng;
  const Tensor xf = x.dtype() == DType::F32 ? x : x.to(DType::F32);
  const Tensor x2 = reshape(contiguous(xf), {-1, in});
  std::vector<Tensor> outs, biases(layers.size());
  std::vector<quant::QuantLinearOut> products;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t outf = layers[i].w->n();
    outs.push_back(output_like(xf, outf));
    quant::QuantLinearOut o;
    o.w = layers[i].w;
    o.y = outs.back().data<float>();
    o.ldy = std::max<int64_t>(outf, 1);
    set_bias(o.epilogue, layers[i].bias, outf, biases[i], layers[i].name);
    products.push_back(o);
  }
  if (x2.size(0) > 0) {
    quant::linear_quant_shared_input(x2.size(0), x2.data<float>(), std::max<int64_t>(in, 1),
                                     products);
  }
  return outs;
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
