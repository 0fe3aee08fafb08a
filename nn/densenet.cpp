#include "nn/densenet.h"

#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"
#include "nn/densenet_block_train.h"
#include "nn/densenet_stem_train.h"

namespace kiln::nn {
namespace {

Conv2dOptions conv_opts(int64_t stride, int64_t pad) {
  Conv2dOptions o;
  o.stride = {stride, stride}, o.padding = {pad, pad};
  return o;
}

// The folded conv+bn is used only where it gives what the pair gives: eval mode, no graph.
bool inference_mode(const Module& m) {
  return !m.training() && !grad_enabled();
}
bool use_folded(const FoldedConvBn& f, const Module& m) {
  return f.valid && inference_mode(m);
}

}  // namespace

DenseLayer::DenseLayer(int64_t in, const DenseNetConfig& c) : drop_rate(c.drop_rate) {
  const int64_t inner = c.bn_size * c.growth_rate;
  norm1 = register_module("norm1", std::make_shared<BatchNorm2d>(in, c.bn_eps, c.bn_momentum));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, inner, 1, conv_opts(1, 0), false));
  norm2 = register_module("norm2", std::make_shared<BatchNorm2d>(inner, c.bn_eps, c.bn_momentum));
  conv2 = register_module(
      "conv2", std::make_shared<Conv2d>(inner, c.growth_rate, 3, conv_opts(1, 1), false));
}

Tensor DenseLayer::forward(const Tensor& x, Generator* dropout_gen,
                           const BatchStatistics* known) const {
  Tensor h = norm1->forward_relu(x, known);
  h = use_folded(folded_, *this) ? relu(folded_.forward(h))
                                 : norm2->forward_relu(conv1->forward(h));
  Tensor out = conv2->forward(h);
  return drop_rate > 0 ? maybe_dropout(out, drop_rate, training(), dropout_gen) : out;
}

void DenseLayer::pack_self(bool /*release_weights*/) {
  folded_.make(*conv1, *norm2);
}

Transition::Transition(int64_t in, int64_t out, const DenseNetConfig& c) {
  norm = register_module("norm", std::make_shared<BatchNorm2d>(in, c.bn_eps, c.bn_momentum));
  conv = register_module("conv", std::make_shared<Conv2d>(in, out, 1, conv_opts(1, 0), false));
}

Tensor Transition::forward(const Tensor& x, const BatchStatistics* known) const {
  Pool2dOptions p;
  p.kernel = {2, 2}, p.stride = {2, 2};
  // torchvision convolves, then pools; both are linear and the ReLU comes before them, so pooling
  // first gives the same values (within rounding) with a quarter of the convolution's work in
  // forward and backward, and keeps a quarter-size tensor for backward.
  return conv->forward(avg_pool2d(norm->forward_relu(x, known), p));
}

DenseNet::DenseNet(const DenseNetConfig& c) : config_(c) {
  auto features = register_module("features", std::make_shared<Group>());
  if (c.small_stem()) {  // conv0 3x3 / 1 alone; block 1 normalises its input itself (norm1)
    conv0 = features->add(
        "conv0", std::make_shared<Conv2d>(3, c.num_init_features, 3, conv_opts(1, 1), false));
  } else {
    conv0 = features->add(
        "conv0", std::make_shared<Conv2d>(3, c.num_init_features, 7, conv_opts(2, 3), false));
    norm0 = features->add(
        "norm0", std::make_shared<BatchNorm2d>(c.num_init_features, c.bn_eps, c.bn_momentum));
  }
  int64_t ch = c.num_init_features;
  for (size_t b = 0; b < c.block_config.size(); ++b) {
    auto block = features->group("denseblock" + std::to_string(b + 1));
    blocks.emplace_back();
    for (int64_t l = 0; l < c.block_config[b]; ++l, ch += c.growth_rate)
      blocks.back().push_back(
          block->add("denselayer" + std::to_string(l + 1), std::make_shared<DenseLayer>(ch, c)));
    if (b + 1 < c.block_config.size()) {
      transitions.push_back(features->add("transition" + std::to_string(b + 1),
                                          std::make_shared<Transition>(ch, ch / 2, c)));
      ch /= 2;
    }
  }
  norm5 = features->add("norm5", std::make_shared<BatchNorm2d>(ch, c.bn_eps, c.bn_momentum));
  classifier = register_module("classifier", std::make_shared<Linear>(ch, c.num_classes));
}

Tensor DenseNet::pooled_features(const Tensor& x, NamedTensors* acts,
                                 const std::string& prefix) const {
  auto keep = [&](const std::string& name, const Tensor& t) {
    if (acts) (*acts)[prefix + name] = t;
  };
  KILN_CHECK(x.dim() == 4 && x.size(1) == 3, "densenet: pixel_values must be [N, 3, H, W], got ",
             x.describe());
  if (fast_ && !acts && x.dtype() == DType::F32 && inference_mode(*this))
    return fast_->pooled_features(x);
  Tensor h;
  // Training without per-layer outputs: the fused stem (nn/densenet_stem_train.h), conv0 through
  // pool0 in one op.
  const bool fused_stem =
      norm0 && fused_training_ && !acts && densenet_stem_train_applies(x, *conv0, *norm0);
  if (fused_stem) {
    h = densenet_stem_train(x, *conv0, *norm0);
  } else if (!norm0) {  // small stem
    h = conv0->forward(x);
    keep("features.conv0", h);
  } else if (use_folded(folded_stem_, *this)) {
    h = folded_stem_.forward(x);
  } else {
    h = conv0->forward(x);
    keep("features.conv0", h);
    h = norm0->forward(h);
  }
  if (norm0 && !fused_stem) {
    keep("features.norm0", h);
    h = relu(h);
    keep("features.relu0", h);
    Pool2dOptions pool0;
    pool0.kernel = {3, 3}, pool0.stride = {2, 2}, pool0.padding = {1, 1};
    h = max_pool2d(h, pool0);
    keep("features.pool0", h);
  }
  const bool recompute = checkpointing_ && grad_enabled();
  auto joined = [](const std::vector<Tensor>& parts) {
    return parts.size() == 1 ? parts[0] : concat(parts, 1);
  };
  for (size_t b = 0; b < blocks.size(); ++b) {
    const std::string block = "features.denseblock" + std::to_string(b + 1);
    // Training without per-layer outputs: the fused block (nn/densenet_block_train.h), which
    // keeps O(L) tensors instead of O(L^2); with checkpointing it recomputes its bottlenecks.
    if (fused_training_ && !acts && dense_block_train_applies(h, blocks[b])) {
      const Transition* t = b < transitions.size() ? transitions[b].get() : nullptr;
      if (t && dense_block_train_applies(h, blocks[b], t)) {  // the transition fused in
        h = dense_block_train(h, blocks[b], /*recompute_bottleneck=*/recompute, t);
        continue;
      }
      h = dense_block_train(h, blocks[b], /*recompute_bottleneck=*/recompute);
      if (t) h = t->forward(h);
      continue;
    }
    std::vector<Tensor> parts = {h};
    // Training: each part's batch statistics, computed once (the layers' norm1 see them all).
    const bool reuse = reuse_stats_ && !recompute && !blocks[b].empty() &&
                       blocks[b][0]->norm1->training() &&
                       (h.dtype() == DType::F32 || h.dtype() == DType::F64);
    const bool to_transition = b < transitions.size();
    std::vector<BatchStatistics> part_stats;
    if (reuse) part_stats.push_back(batch_statistics(h));
    for (size_t l = 0; l < blocks[b].size(); ++l) {
      const std::shared_ptr<DenseLayer>& layer = blocks[b][l];
      if (reuse) {
        const BatchStatistics known =
            part_stats.size() == 1 ? part_stats[0] : concat_statistics(part_stats);
        parts.push_back(layer->forward(joined(parts), dropout_gen_, &known));
        if (l + 1 < blocks[b].size() || to_transition)
          part_stats.push_back(batch_statistics(parts.back()));
      } else if (recompute) {
        // The concatenation goes inside: each layer's wide input is rebuilt, not kept.
        parts.push_back(checkpoint(
            [layer, joined, gen = dropout_gen_](const std::vector<Tensor>& in) {
              return layer->forward(joined(in), gen);
            },
            parts, dropout_gen_));
      } else {
        parts.push_back(layer->forward(joined(parts), dropout_gen_));
      }
      keep(block + ".denselayer" + std::to_string(l + 1), parts.back());
    }
    // Checkpointed transitions concatenate inside; the block output is built only where kept.
    if (acts || !recompute || b == transitions.size()) h = joined(parts);
    keep(block, h);
    if (b < transitions.size()) {
      const std::shared_ptr<Transition>& t = transitions[b];
      const BatchStatistics block_stats = reuse ? concat_statistics(part_stats) : BatchStatistics{};
      h = recompute
              ? checkpoint(
                    [t, joined](const std::vector<Tensor>& in) { return t->forward(joined(in)); },
                    parts, nullptr)
              : t->forward(h, reuse ? &block_stats : nullptr);
      keep("features.transition" + std::to_string(b + 1), h);
    }
  }
  h = norm5->forward(h);
  keep("features.norm5", h);
  Tensor pooled = reshape(adaptive_avg_pool2d(relu(h), 1, 1), {h.size(0), h.size(1)});
  keep("classifier.input", pooled);
  return pooled;
}

NamedTensors DenseNet::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  check_input_names(inputs, {"pixel_values"}, "densenet");
  NamedTensors out;
  Tensor pooled = pooled_features(required_input(inputs, "pixel_values"),
                                  options.hidden_states ? &out : nullptr, "");
  out["logits"] = classify(pooled);
  return out;
}

void DenseNet::init_weights(Generator& gen) {
  NoGradGuard ng;
  conv0->init_kaiming_normal(gen);
  if (norm0) norm0->reset();
  for (auto& block : blocks)
    for (auto& l : block) {
      l->norm1->reset(), l->norm2->reset();
      l->conv1->init_kaiming_normal(gen), l->conv2->init_kaiming_normal(gen);
    }
  for (auto& t : transitions) t->norm->reset(), t->conv->init_kaiming_normal(gen);
  norm5->reset();
  init_linear_default(classifier->weight, classifier->bias, gen);
  fill_(classifier->bias, 0.0);
}

void DenseNet::pack_self(bool /*release_weights*/) {
  folded_stem_ = {};
  if (norm0) folded_stem_.make(*conv0, *norm0);
  fast_.reset();
  if (conv0->weight.dtype() == DType::F32) fast_ = std::make_shared<const DenseNetInference>(*this);
}

}  // namespace kiln::nn
