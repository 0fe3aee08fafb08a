// DenseNet (Huang et al.), exactly as torchvision.models.DenseNet computes it and with its
// state_dict names: features.conv0 / norm0 / (relu0, pool0), features.denseblockN.denselayerM.
// With config stem "small" the stem is features.conv0 alone (3x3, stride 1: the paper's CIFAR
// variant, which torchvision lacks); every other name is unchanged.
// {norm1, conv1, norm2, conv2}, features.transitionN.{norm, conv}, features.norm5, classifier.
// Inference (eval mode, no grad, after pack_for_inference) folds each batch norm that follows a
// convolution (norm0 after conv0, norm2 after conv1) into that convolution; the norms that precede
// a ReLU and a convolution cannot be folded (the ReLU is between them). Such forwards of an f32
// model that keep no intermediate activations run on DenseNetInference (nn/densenet_inference.h:
// channels-last, no concatenation copies, weights packed once); with hidden states requested they
// take the layer-by-layer path.
#pragma once

#include <memory>
#include <vector>

#include "nn/densenet_config.h"
#include "nn/densenet_inference.h"
#include "nn/image_layers.h"
#include "nn/layers.h"
#include "nn/model.h"

namespace kiln::nn {

class DenseLayer : public Module {
 public:
  DenseLayer(int64_t in, const DenseNetConfig& c);
  // x: the block's features so far, concatenated; returns growth_rate new channels. `known`:
  // x's batch statistics when the caller has them (training; see BatchNorm2d::forward_relu).
  Tensor forward(const Tensor& x, Generator* dropout_gen,
                 const BatchStatistics* known = nullptr) const;
  std::shared_ptr<BatchNorm2d> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2;
  double drop_rate;

 protected:
  void pack_self(bool release_weights) override;
  void drop_packed_self() override { folded_ = {}; }

 private:
  FoldedConvBn folded_;  // conv1 + norm2
};

class Transition : public Module {
 public:
  Transition(int64_t in, int64_t out, const DenseNetConfig& c);
  // avg_pool 2/2 of conv(relu(norm(x))), computed as conv(avg_pool(relu(norm(x)))) (the same
  // maths: see forward); `known` as DenseLayer::forward's.
  Tensor forward(const Tensor& x, const BatchStatistics* known = nullptr) const;
  std::shared_ptr<BatchNorm2d> norm;
  std::shared_ptr<Conv2d> conv;
};

class DenseNet : public Model {
 public:
  explicit DenseNet(const DenseNetConfig& config);
  const DenseNetConfig& config() const { return config_; }

  // inputs: pixel_values [N, 3, H, W] (already preprocessed). Outputs: logits; with
  // options.hidden_states also every module output under torchvision's names (features.conv0,
  // features.denseblock1.denselayer1 (new channels only), features.transition1, features.norm5,
  // classifier.input = the pooled vector).
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;
  // features(x), then ReLU and global average pooling: [N, C]. When `acts` is given, each module's
  // output is stored there under `prefix` + its name.
  Tensor pooled_features(const Tensor& x, NamedTensors* acts, const std::string& prefix) const;
  Tensor classify(const Tensor& pooled) const { return classifier->forward(pooled); }

  // torchvision's init: convs kaiming_normal_, BN weight 1 / bias 0, classifier bias 0 (its
  // weight keeps nn.Linear's default).
  void init_weights(Generator& gen) override;
  void set_dropout_generator(Generator* gen) override { dropout_gen_ = gen; }
  // On the fused training block (nn/densenet_block_train.h) each layer's bottleneck (conv1's
  // output) is recomputed in backward; on the op path (per-layer outputs requested, dropout) each
  // dense layer (its input concatenation included) and each transition is recomputed
  // (core/checkpoint.h). Either way a block keeps only the growth_rate channels each layer adds.
  void set_gradient_checkpointing(bool on) override { checkpointing_ = on; }
  // Training forwards compute each block feature's batch statistics once and hand every later
  // dense layer's norm1 the concatenation (the same bits as recomputing them; on by default,
  // off for the test that shows it).
  void set_reuse_batch_statistics(bool on) { reuse_stats_ = on; }
  // Training forwards with gradients run the ImageNet stem (conv0 through pool0,
  // nn/densenet_stem_train.h) and each dense block (nn/densenet_block_train.h) as fused ops
  // where they apply; off: the op-by-op path (tests compare them).
  void set_fused_block_training(bool on) { fused_training_ = on; }

  std::shared_ptr<Conv2d> conv0;
  std::shared_ptr<BatchNorm2d> norm0;  // null with the small stem
  std::shared_ptr<BatchNorm2d> norm5;
  std::vector<std::vector<std::shared_ptr<DenseLayer>>> blocks;
  std::vector<std::shared_ptr<Transition>> transitions;
  std::shared_ptr<Linear> classifier;

 protected:
  void pack_self(bool release_weights) override;
  void drop_packed_self() override { folded_stem_ = {}, fast_.reset(); }

 private:
  DenseNetConfig config_;
  Generator* dropout_gen_ = nullptr;
  bool checkpointing_ = false;
  bool reuse_stats_ = true;
  bool fused_training_ = true;
  FoldedConvBn folded_stem_;  // conv0 + norm0
  // The channels-last inference path, made by pack_self for f32 models.
  std::shared_ptr<const DenseNetInference> fast_;
};

}  // namespace kiln::nn
