// A classifier of tabular metadata alone: the metadata branch of the fusion model
// (nn/fusion.h) with its own head, and the same parameter names (meta.fc1, meta.fc2, meta_head),
// so the two can exchange those weights:
//   logits = meta_head(relu(meta.fc2(relu(meta.fc1(m)))))
// The metadata vector is nn/fusion_metadata.h's encoding, stored in the config. Used for
// HAM10000's metadata-only baseline (kiln train --task image-classification with a model that
// takes no image).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/fusion_metadata.h"
#include "nn/layers.h"
#include "nn/model.h"

namespace kiln::nn {

struct MetadataMlpConfig {
  int64_t meta_dim = 20, meta_hidden = 32, num_classes = 7;
  std::vector<std::string> labels;  // LABEL_i when the config names none
  MetadataEncoding encoding;

  // kiln's form: {"model_type": "metadata-mlp", "meta_hidden", "num_classes", "class_names",
  // "metadata_encoding", "meta_dim"}; errors name `origin` and the field.
  static MetadataMlpConfig from_json(const nlohmann::json& j, const std::string& origin);
  nlohmann::json to_json() const;
  int64_t parameter_count() const;
};

class MetadataMlp : public Model {
 public:
  explicit MetadataMlp(const MetadataMlpConfig& config);
  const MetadataMlpConfig& config() const { return config_; }

  // inputs: metadata [N, meta_dim]. Outputs: logits [N, num_classes]; with options.hidden_states
  // also meta_head.input.
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;
  // torch's nn.Linear default initialisation, as the fusion model's metadata branch.
  void init_weights(Generator& gen) override;
  void set_dropout_generator(Generator* /*gen*/) override {}

  std::shared_ptr<Linear> fc1, fc2, meta_head;

 private:
  MetadataMlpConfig config_;
};

}  // namespace kiln::nn
