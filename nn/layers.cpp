#include "nn/layers.h"

#include "core/autograd.h"
#include "core/storage.h"

namespace kiln::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, DType dtype)
    : weight(register_parameter("weight", Tensor::zeros({out, in}, dtype))),
      bias(has_bias ? register_parameter("bias", Tensor::zeros({out}, dtype))
                    : register_parameter("bias", Tensor())) {}

bool Linear::use_packed(const Tensor& x) const {
  // Released weights leave only the packed copy (linear_prepacked refuses autograd inputs).
  return packed_ && (weights_released_ || (!grad_enabled() && weight.raw_data() == packed_from_ &&
                                           x.dtype() == DType::F32));
}

Tensor Linear::forward(const Tensor& x) const {
  return use_packed(x) ? linear_prepacked(x, *packed_, bias) : linear(x, weight, bias);
}

Tensor Linear::forward_fused(const Tensor& x, LinearActivation activation,
                             const Tensor& residual) const {
  if (use_packed(x) && (!residual.defined() || residual.dtype() == DType::F32)) {
    return linear_prepacked(x, *packed_, bias, activation, residual);
  }
  Tensor y = linear(x, weight, bias);
  if (activation == LinearActivation::kGelu) y = gelu(y);
  return residual.defined() ? add(y, residual) : y;
}

void Linear::pack_self(bool release_weights) {
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
    : weight(register_parameter("weight", Tensor::zeros({num, dim}, dtype))) {}

LayerNorm::LayerNorm(int64_t dim, double e, DType dtype)
    : weight(register_parameter("weight", Tensor::ones({dim}, dtype))),
      bias(register_parameter("bias", Tensor::zeros({dim}, dtype))),
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
