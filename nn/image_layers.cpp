#include "nn/image_layers.h"

#include <cmath>

#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"
#include "nn/empty_init.h"
#include "nn/layers.h"
#include "nn/quantized_conv.h"

namespace kiln::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, const Conv2dOptions& o, bool has_bias)
    : weight(register_parameter("weight",
                                new_state_tensor({out, in / o.groups, kernel, kernel}, 0.0))),
      bias(register_parameter("bias", has_bias ? new_state_tensor({out}, 0.0) : Tensor())),
      options(o) {}

Tensor Conv2d::forward(const Tensor& x) const {
  if (const WeightInputHook* hook = ScopedWeightInputHook::current();
      hook != nullptr && !qweight_ && options.groups == 1) {
    for_each_receptive_chunk(x, weight.shape(), options, 4096,
                             [&](const Tensor& rows) { (*hook)(*this, rows); });
  }
  if (qweight_) return conv2d_quantized(x, *qweight_, weight.shape(), bias, options, qname_);
  return conv2d(x, weight, bias, options);
}

void Conv2d::set_quantized(std::shared_ptr<const quant::PackedQuantB> w, const std::string& name) {
  KILN_CHECK(w, "Conv2d::set_quantized: '", name, "': no weight given");
  KILN_CHECK(weight.dim() == 4 && weight.size(0) == w->n() && weight.numel() == w->n() * w->k(),
             "'", name, "': quantized weight [", w->n(), ", ", w->k(),
             "] does not fit the layer's ", weight.describe());
  KILN_CHECK(options.groups == 1, "'", name,
             "' is quantized, but the layer has groups = ", options.groups,
             "; kiln runs quantized convolutions with groups = 1 only");
  qweight_ = std::move(w);
  qname_ = name;
  weights_quantized_ = true;
}

void Conv2d::clear_quantized(Tensor w) {
  KILN_CHECK(qweight_ && w.dim() == 4 && w.size(0) == qweight_->n() &&
                 w.numel() == qweight_->n() * qweight_->k(),
             "Conv2d::clear_quantized: '", qname_, "': ", w.describe(),
             " is not the layer's float weight");
  qweight_.reset();
  qname_.clear();
  weights_quantized_ = false;
  weight = std::move(w);
}

void Conv2d::init_kaiming_normal(Generator& gen) {
  NoGradGuard ng;
  const int64_t fan_in = weight.numel() / std::max<int64_t>(weight.size(0), 1);
  fill_randn_(weight, gen, std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fan_in, 1))));
  if (bias.defined()) fill_(bias, 0.0);
}

BatchNorm2d::BatchNorm2d(int64_t c, double eps_, double momentum_)
    : weight(register_parameter("weight", new_state_tensor({c}, 1.0))),
      bias(register_parameter("bias", new_state_tensor({c}, 0.0))),
      running_mean(register_buffer("running_mean", new_state_tensor({c}, 0.0))),
      running_var(register_buffer("running_var", new_state_tensor({c}, 1.0))),
      // Real even under EmptyInit: older torchvision checkpoints lack it (torch counts from 0).
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64))),
      eps(eps_),
      momentum(momentum_) {}

Tensor BatchNorm2d::forward(const Tensor& x) const {
  return normalise(x, false);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x, const BatchStatistics* known) const {
  return normalise(x, true, known);
}

Tensor BatchNorm2d::normalise(const Tensor& x, bool relu, const BatchStatistics* known) const {
  if (!training()) known = nullptr;  // eval normalises with the running statistics
  const auto op = [relu, known](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm,
                                const Tensor& rv, bool training, double momentum, double eps) {
    if (known) return batch_norm_relu_known(x, w, b, rm, rv, momentum, eps, *known);
    return relu ? batch_norm_relu(x, w, b, rm, rv, training, momentum, eps)
                : batch_norm(x, w, b, rm, rv, training, momentum, eps);
  };
  KILN_CHECK(relu || !known, "BatchNorm2d: known batch statistics are for forward_relu");
  // A checkpointed forward re-run in backward: batch statistics again, the running ones left as
  // the forward updated them.
  if (training() && checkpoint_recomputing())
    return op(x, weight, bias, Tensor(), Tensor(), true, momentum, eps);
  if (training()) count_batch();
  return op(x, weight, bias, running_mean, running_var, training(), momentum, eps);
}

void BatchNorm2d::count_batch() const {
  NoGradGuard ng;
  // Buffers read from a mapped model file are read-only: a training forward updates a copy.
  for (Tensor* b : {&running_mean, &running_var, &num_batches_tracked})
    if (!b->storage()->writable()) *b = b->clone();
  begin_in_place_write(num_batches_tracked, "BatchNorm2d");
  num_batches_tracked.data<int64_t>()[0] += 1;
}

void BatchNorm2d::track_batch(const float* mean, const float* var, int64_t count) const {
  count_batch();
  batch_norm_update_running(running_mean, running_var, mean, var, count, momentum);
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
  if (conv.quantized()) {
    *this = FoldedConvBn();
    return;
  }
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
