#include "nn/layers.h"

#include "core/autograd.h"

namespace kiln::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, DType dtype)
    : weight(register_parameter("weight", Tensor::zeros({out, in}, dtype))),
      bias(has_bias ? register_parameter("bias", Tensor::zeros({out}, dtype))
                    : register_parameter("bias", Tensor())) {}

Embedding::Embedding(int64_t num, int64_t dim, DType dtype)
    : weight(register_parameter("weight", Tensor::zeros({num, dim}, dtype))) {}

LayerNorm::LayerNorm(int64_t dim, double e, DType dtype)
    : weight(register_parameter("weight", Tensor::ones({dim}, dtype))),
      bias(register_parameter("bias", Tensor::zeros({dim}, dtype))),
      eps(e) {}

Tensor maybe_dropout(const Tensor& x, double p, bool training, Generator* gen) {
  if (!training || p <= 0.0) return x;
  KILN_CHECK(gen, "dropout in training mode needs a generator");
  return dropout(x, p, true, *gen);
}

void init_normal_(Tensor& t, double std, Generator& gen) {
  NoGradGuard ng;
  copy_(t, mul(Tensor::randn(t.shape(), gen, DType::F64), std));
}

}  // namespace kiln::nn
