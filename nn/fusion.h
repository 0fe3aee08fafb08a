// The image + metadata fusion classifier of ../shared/refs/models/fusion-tiny/README.md:
//   li = image.classifier(GAP(relu(image.features(x))))          (a DenseNet, module "image")
//   lm = meta_head(relu(meta.fc2(relu(meta.fc1(m)))))
//   logits = w[0] * li + w[1] * lm, w = softmax(fusion_logits)   (fusion_logits [2], init 0)
// Its config carries the DenseNet's, the metadata encoding and the training class weights.
#pragma once

#include <memory>

#include "nn/densenet.h"
#include "nn/fusion_metadata.h"

namespace kiln::nn {

struct FusionConfig {
  DenseNetConfig image;
  int64_t meta_dim = 20, meta_hidden = 32, num_classes = 7;
  std::vector<std::string> labels;
  MetadataEncoding encoding;
  std::vector<double> class_weights;  // empty: none recorded
  ImagePreprocessing preprocessing;

  static FusionConfig from_json(const nlohmann::json& j, const std::string& origin);
  nlohmann::json to_json() const;  // model_type "densenet-fusion"
  int64_t parameter_count() const;
};

// A fusion-style config without model_type (as the reference's config.json).
bool looks_like_fusion_config(const nlohmann::json& j);

class FusionModel : public Model {
 public:
  explicit FusionModel(const FusionConfig& config);
  const FusionConfig& config() const { return config_; }

  // inputs: pixel_values [N, 3, H, W], metadata [N, meta_dim]. Outputs: logits, image_logits,
  // meta_logits, fusion_weights [2]; with options.hidden_states also image.features.* (as
  // DenseNet's), image.classifier.input and meta_head.input.
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;
  void init_weights(Generator& gen) override;
  void set_dropout_generator(Generator* gen) override { image->set_dropout_generator(gen); }
  // The DenseNet's layers and transitions; the metadata MLP is small and kept.
  void set_gradient_checkpointing(bool on) override { image->set_gradient_checkpointing(on); }

  std::shared_ptr<DenseNet> image;
  std::shared_ptr<Linear> fc1, fc2, meta_head;
  Tensor& fusion_logits;

 private:
  FusionConfig config_;
};

}  // namespace kiln::nn
