// The basic layers, with Hugging Face / torch.nn parameter names (weight, bias).
#pragma once

#include <functional>

#include "core/gemm.h"
#include "core/ops.h"
#include "core/qgemm.h"
#include "core/rng.h"
#include "nn/module.h"

namespace kiln::nn {

// y = x W^T + b, W [out, in].
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, DType dtype = DType::F32);
  // Uses the packed weight (see Module::pack_for_inference) under no-grad when it is current.
  Tensor forward(const Tensor& x) const;
  // activation(x W^T + b) + residual (residual may be undefined): fused into the GEMM on the
  // packed path, otherwise linear, gelu and add one after another (same bits either way).
  Tensor forward_fused(const Tensor& x, LinearActivation activation,
                       const Tensor& residual = Tensor()) const;
  Tensor& weight;
  Tensor& bias;  // undefined when constructed without bias

  // Makes the layer run on a quantized weight (a model file's kiln.quantization; `name` is the
  // tensor's state-dict name, for errors): forwards use quant::linear_quant with the same fused
  // epilogue, inference only. The weight slot is left as it is and never read while quantized
  // (a loaded model holds a zero-cost placeholder of the float shape there, which keeps the
  // shape and any tie intact); named_parameters() refuses the layer.
  void set_quantized(std::shared_ptr<const quant::PackedQuantB> w, const std::string& name);
  const quant::PackedQuantB* quantized() const { return qweight_.get(); }
  const std::string& quantized_name() const { return qname_; }
  // Back to the float weight `w` [out, in] (the quantization pass tries one layer at a time).
  void clear_quantized(Tensor w);

 protected:
  void pack_self(bool release_weights) override;
  void drop_packed_self() override;

 private:
  bool use_packed(const Tensor& x) const;
  std::shared_ptr<const quant::PackedQuantB> qweight_;
  std::string qname_;
  std::shared_ptr<const gemm::PackedB> packed_;
  const void* packed_from_ = nullptr;  // weight data the pack was made from
};

// x W_i^T + b_i for layers that read the same x (attention's query, key and value projections).
// Where they are all quantized in one format, x is quantized once and one parallel region runs
// them all (nn/quantized_ops.h: each result has the bits of its own forward); otherwise each
// layer's forward in turn.
std::vector<Tensor> forward_shared_input(const Tensor& x, const std::vector<const Linear*>& layers);

// Calibration (quant/gptq.h): while a ScopedWeightInputHook lives, every float Linear and Conv2d
// forward first hands its layer and the rows its weight multiplies to the hook: a Linear's input
// [..., in]; a convolution's receptive fields, one row per output pixel in the weight's
// (c, i, j) order (nn/quantized_conv.h), in chunks. One hook at a time; forwards of the thread
// that set it (the unpacked module path: DenseNet's packed inference engine calls no Conv2d).
using WeightInputHook = std::function<void(const Module& layer, const Tensor& rows)>;
class ScopedWeightInputHook {
 public:
  explicit ScopedWeightInputHook(WeightInputHook hook);
  ~ScopedWeightInputHook();
  ScopedWeightInputHook(const ScopedWeightInputHook&) = delete;
  ScopedWeightInputHook& operator=(const ScopedWeightInputHook&) = delete;
  // The hook in force, or null.
  static const WeightInputHook* current();

 private:
  WeightInputHook hook_;
  const WeightInputHook* previous_;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, DType dtype = DType::F32);
  // Quantized: each gathered row is dequantized (quant::dequantize_rows), inference only.
  Tensor forward(const Tensor& ids) const;
  Tensor& weight;

  // Makes the table quantized: `rows` is U8 [num, row_bytes(format, dim)] (canonical rows, may be
  // a model file's mapping); the weight slot is left as it is, as for Linear. `name` names the
  // tensor in errors.
  void set_quantized(quant::Format format, int64_t num, int64_t dim, Tensor rows,
                     const std::string& name);
  bool quantized() const { return qrows_.defined(); }
  // Back to the float table `w` [num, dim].
  void clear_quantized(Tensor w);

 private:
  quant::Format qformat_ = quant::Format::Int8;
  int64_t qnum_ = 0, qdim_ = 0;
  Tensor qrows_;
  std::string qname_;
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, DType dtype = DType::F32);
  Tensor forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }
  Tensor& weight;
  Tensor& bias;
  double eps;
};

// Dropout that is active only in training mode with a generator (which makes it reproducible);
// a null generator means training-mode layers without dropout.
Tensor maybe_dropout(const Tensor& x, double p, bool training, Generator* gen);

// Hugging Face initialisation: weights ~ normal(0, std), biases 0, layer norms 1/0, and the
// padding row of an embedding zeroed.
void init_normal_(Tensor& t, double std, Generator& gen);

}  // namespace kiln::nn
