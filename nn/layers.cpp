#include "nn/layers.h"

#include "core/autograd.h"
#include "core/storage.h"
#include "nn/empty_init.h"
#include "nn/quantized_ops.h"

namespace kiln::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, DType dtype)
    : weight(register_parameter("weight", new_state_tensor({out, in}, 0.0, dtype))),
      bias(has_bias ? register_parameter("bias", new_state_tensor({out}, 0.0, dtype))
                    : register_parameter("bias", Tensor())) {}

bool Linear::use_packed(const Tensor& x) const {
  // Released weights leave only the packed copy (linear_prepacked refuses autograd inputs).
  return packed_ && (weights_released_ || (!grad_enabled() && weight.raw_data() == packed_from_ &&
                                           x.dtype() == DType::F32));
}

namespace {
thread_local const WeightInputHook* t_input_hook = nullptr;
}  // namespace

ScopedWeightInputHook::ScopedWeightInputHook(WeightInputHook hook)
    : hook_(std::move(hook)), previous_(t_input_hook) {
  t_input_hook = &hook_;
}

ScopedWeightInputHook::~ScopedWeightInputHook() {
  t_input_hook = previous_;
}

const WeightInputHook* ScopedWeightInputHook::current() {
  return t_input_hook;
}

Tensor Linear::forward(const Tensor& x) const {
  if (t_input_hook != nullptr && !qweight_) (*t_input_hook)(*this, x);
  if (qweight_)
    return linear_quantized(x, *qweight_, bias, LinearActivation::kNone, Tensor(), qname_);
  return use_packed(x) ? linear_prepacked(x, *packed_, bias) : linear(x, weight, bias);
}

Tensor Linear::forward_fused(const Tensor& x, LinearActivation activation,
                             const Tensor& residual) const {
  if (t_input_hook != nullptr && !qweight_) (*t_input_hook)(*this, x);
  if (qweight_) return linear_quantized(x, *qweight_, bias, activation, residual, qname_);
  if (use_packed(x) && (!residual.defined() || residual.dtype() == DType::F32)) {
    return linear_prepacked(x, *packed_, bias, activation, residual);
  }
  Tensor y = linear(x, weight, bias);
  if (activation == LinearActivation::kGelu) y = gelu(y);
  return residual.defined() ? add(y, residual) : y;
}

std::vector<Tensor> forward_shared_input(const Tensor& x,
                                         const std::vector<const Linear*>& layers) {
  std::vector<QuantizedLinearRef> refs;
  for (const Linear* l : layers) {
    const quant::PackedQuantB* w = l->quantized();
    if (w == nullptr || w->format() != layers[0]->quantized()->format() ||
        w->k() != layers[0]->quantized()->k())
      break;
    refs.push_back({w, l->bias, l->quantized_name()});
  }
  if (refs.size() == layers.size() && refs.size() > 1)
    return linears_quantized_shared_input(x, refs);
  std::vector<Tensor> outs;
  for (const Linear* l : layers) outs.push_back(l->forward(x));
  return outs;
}

void Linear::set_quantized(std::shared_ptr<const quant::PackedQuantB> w, const std::string& name) {
  KILN_CHECK(w, "Linear::set_quantized: '", name, "': no weight given");
  KILN_CHECK(!weight.defined() ||
                 (weight.dim() == 2 && weight.size(0) == w->n() && weight.size(1) == w->k()),
             "'", name, "': quantized weight [", w->n(), ", ", w->k(),
             "] does not fit the layer's ", weight.describe());
  packed_.reset();
  packed_from_ = nullptr;
  weights_released_ = false;
  qweight_ = std::move(w);
  qname_ = name;
  weights_quantized_ = true;
}

void Linear::clear_quantized(Tensor w) {
  KILN_CHECK(qweight_ && w.dim() == 2 && w.size(0) == qweight_->n() && w.size(1) == qweight_->k(),
             "Linear::clear_quantized: '", qname_, "': ", w.describe(),
             " is not the layer's float weight");
  qweight_.reset();
  qname_.clear();
  weights_quantized_ = false;
  weight = std::move(w);
}

void Linear::pack_self(bool release_weights) {
  if (qweight_) return;  // already in its inference form
  if (packed_ || weight.dtype() != DType::F32 || weight.dim() != 2 || !weight.is_contiguous() ||
      weight.requires_grad()) {
    return;
  }
  // w [out, in] row-major is op(B) = w^T transposed: k = in, n = out, ldb = in.
  packed_ = std::make_shared<const gemm::PackedB>(true, weight.size(1), weight.size(0),
                                                  weight.data<float>(), weight.size(1));
  packed_from_ = weight.raw_data();
  if (release_weights) {
    // A weight read from a model file: its pages leave RSS (the packed copy replaces them).
    weight.storage()->drop_resident_pages();
    weight = Tensor();
    weights_released_ = true;
  }
}

void Linear::drop_packed_self() {
  if (weights_released_) {
    weight = Tensor::empty({packed_->n(), packed_->k()}, DType::F32);
    packed_->unpack_transposed(weight.data<float>());
    weights_released_ = false;
  }
  packed_.reset();
  packed_from_ = nullptr;
}

Embedding::Embedding(int64_t num, int64_t dim, DType dtype)
    : weight(register_parameter("weight", new_state_tensor({num, dim}, 0.0, dtype))) {}

Tensor Embedding::forward(const Tensor& ids) const {
  if (qrows_.defined()) return embedding_quantized(qformat_, qnum_, qdim_, qrows_, ids, qname_);
  return embedding(weight, ids);
}

void Embedding::set_quantized(quant::Format format, int64_t num, int64_t dim, Tensor rows,
                              const std::string& name) {
  KILN_CHECK(rows.dtype() == DType::U8 && rows.dim() == 2 && rows.size(0) == num &&
                 rows.size(1) == static_cast<int64_t>(quant::row_bytes(format, dim)) &&
                 rows.is_contiguous(),
             "'", name, "': quantized ", quant::format_name(format), " table ", rows.describe(),
             " is not [", num, ", ", quant::row_bytes(format, dim), "] bytes");
  KILN_CHECK(
      !weight.defined() || (weight.dim() == 2 && weight.size(0) == num && weight.size(1) == dim),
      "'", name, "': quantized table [", num, ", ", dim, "] does not fit the layer's ",
      weight.describe());
  qformat_ = format;
  qnum_ = num;
  qdim_ = dim;
  qrows_ = std::move(rows);
  qname_ = name;
  weights_quantized_ = true;
}

void Embedding::clear_quantized(Tensor w) {
  KILN_CHECK(qrows_.defined() && w.dim() == 2 && w.size(0) == qnum_ && w.size(1) == qdim_,
             "Embedding::clear_quantized: '", qname_, "': ", w.describe(),
             " is not the layer's float table");
  qrows_ = Tensor();
  qname_.clear();
  weights_quantized_ = false;
  weight = std::move(w);
}

LayerNorm::LayerNorm(int64_t dim, double e, DType dtype)
    : weight(register_parameter("weight", new_state_tensor({dim}, 1.0, dtype))),
      bias(register_parameter("bias", new_state_tensor({dim}, 0.0, dtype))),
      eps(e) {}

Tensor maybe_dropout(const Tensor& x, double p, bool training, Generator* gen) {
  // No generator: training-mode layers without dropout randomness (`kiln forward --train-mode`).
  if (!training || p <= 0.0 || gen == nullptr) return x;
  return dropout(x, p, true, *gen);
}

void init_normal_(Tensor& t, double std, Generator& gen) {
  NoGradGuard ng;
  if (!t.is_contiguous() || !t.storage()->writable()) {
    copy_(t, mul(Tensor::randn(t.shape(), gen, DType::F64), std));
    return;
  }
  // Same values in place: the composition's full-size f64 temporaries took the set-up peak of a
  // BERT-base model from about 460 MB to 870 MB (word embeddings: 188 MB per f64 copy).
  fill_randn_(t, gen, std);
}

}  // namespace kiln::nn
