#include "nn/image_layers.h"

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, const Conv2dOptions& o, bool has_bias)
    : weight(register_parameter("weight", Tensor::zeros({out, in / o.groups, kernel, kernel}))),
      bias(register_parameter("bias", has_bias ? Tensor::zeros({out}) : Tensor())),
      options(o) {}

void Conv2d::init_kaiming_normal(Generator& gen) {
  NoGradGuard ng;
  const int64_t fan_in = weight.numel() / std::max<int64_t>(weight.size(0), 1);
  fill_randn_(weight, gen, std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fan_in, 1))));
  if (bias.defined()) fill_(bias, 0.0);
}

BatchNorm2d::BatchNorm2d(int64_t c, double eps_, double momentum_)
    : weight(register_parameter("weight", Tensor::ones({c}))),
      bias(register_parameter("bias", Tensor::zeros({c}))),
      running_mean(register_buffer("running_mean", Tensor::zeros({c}))),
      running_var(register_buffer("running_var", Tensor::ones({c}))),
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64))),
      eps(eps_),
      momentum(momentum_) {}

Tensor BatchNorm2d::forward(const Tensor& x) const {
  if (training()) {
    NoGradGuard ng;
    // Buffers read from a mapped model file are read-only: a training forward updates a copy.
    for (Tensor* b : {&running_mean, &running_var, &num_batches_tracked})
      if (!b->storage()->writable()) *b = b->clone();
    begin_in_place_write(num_batches_tracked, "BatchNorm2d");
    num_batches_tracked.data<int64_t>()[0] += 1;
  }
  return batch_norm(x, weight, bias, running_mean, running_var, training(), momentum, eps);
}

void BatchNorm2d::reset() {
  NoGradGuard ng;
  fill_(weight, 1.0);
  fill_(bias, 0.0);
  fill_(running_mean, 0.0);
  fill_(running_var, 1.0);
  fill_(num_batches_tracked, 0.0);
}

void FoldedConvBn::make(const Conv2d& conv, const BatchNorm2d& bn) {
  const FoldedConv f = fold_batch_norm_into_conv(conv.weight, conv.bias, bn.weight, bn.bias,
                                                 bn.running_mean, bn.running_var, bn.eps);
  weight = f.weight, bias = f.bias, options = conv.options, valid = true;
}

void init_linear_default(Tensor& weight, Tensor& bias, Generator& gen) {
  NoGradGuard ng;
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(weight.size(1), 1)));
  for (Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    copy_(*t, add(mul(Tensor::rand(t->shape(), gen), 2 * bound), -bound));
  }
}

}  // namespace kiln::nn
