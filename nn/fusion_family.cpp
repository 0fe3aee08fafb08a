// The image + metadata fusion family in the model-family registry. The reference's config.json
// (no model_type: "image", "metadata_encoding", ...) is recognised and stored in kiln's explicit
// form (model_type "densenet-fusion").
#include <sstream>

#include "nn/family.h"
#include "nn/fusion.h"

namespace kiln::nn {
namespace {

constexpr const char* kImageTask = "image-classification";

class FusionFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "densenet-fusion"; }
  std::vector<std::string> model_types() const override { return {"densenet-fusion"}; }
  std::vector<std::string> architectures() const override { return {"DenseNetFusion"}; }
  std::vector<std::string> tasks() const override { return {kImageTask}; }
  bool recognises_config(const nlohmann::json& config) const override {
    return looks_like_fusion_config(config);
  }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const FusionConfig c = FusionConfig::from_json(config, origin);
    ModelSpec s;
    s.family = name();
    s.model_type = "densenet-fusion";
    s.architecture = "DenseNetFusion";
    s.task = kImageTask;
    s.labels = c.labels;
    s.input_names = {"pixel_values", "metadata"};
    std::ostringstream meta;
    meta << "metadata [N, " << c.meta_dim << "]: " << c.encoding.age_field << " (mean "
         << c.encoding.age_mean << ", std " << c.encoding.age_std << ")";
    for (const auto& [field, values] : c.encoding.categorical)
      meta << ", " << field << " (" << values.size() << " categories)";
    s.summary = {{"architecture", "DenseNetFusion (image + metadata classification)"},
                 {"size", "image: " + c.image.describe() + "; metadata MLP " +
                              std::to_string(c.meta_dim) + " -> " + std::to_string(c.meta_hidden) +
                              " -> " + std::to_string(c.meta_hidden) + " -> " +
                              std::to_string(c.num_classes) + "; softmax-weighted logit fusion"},
                 image_input_summary(c.preprocessing),
                 {"metadata", meta.str()}};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<FusionModel>(FusionConfig::from_json(config, origin));
  }

  nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                  const std::vector<std::string>& labels) const override {
    KILN_CHECK(task == kImageTask, "the densenet-fusion family has no '", task,
               "' head (heads: ", kImageTask, ")");
    FusionConfig c = FusionConfig::from_json(config, "config");
    c.num_classes = c.image.num_classes = static_cast<int64_t>(labels.size());
    c.labels = c.image.labels = labels;
    c.class_weights.clear();
    return c.to_json();
  }

  ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                     const std::string& origin) const override {
    return {FusionConfig::from_json(config, origin).to_json(), std::move(tensors), {}};
  }

  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    return FusionConfig::from_json(config, origin).parameter_count();
  }

  NamedTensors example_inputs(const nlohmann::json& config, int64_t batch,
                              Generator& gen) const override {
    const FusionConfig c = FusionConfig::from_json(config, "config");
    return {{"pixel_values",
             Tensor::randn({batch, 3, c.preprocessing.height, c.preprocessing.width}, gen)},
            {"metadata", Tensor::randn({batch, c.meta_dim}, gen)}};
  }
};

KILN_MODEL_FAMILY(FusionFamilyEntry);

}  // namespace
}  // namespace kiln::nn
