// The DenseNet family in the model-family registry: torchvision-style and timm-style config.json
// files (no model_type) are recognised and stored in kiln's explicit form (model_type "densenet").
#include <regex>

#include "nn/densenet.h"
#include "nn/family.h"

namespace kiln::nn {
namespace {

constexpr const char* kImageTask = "image-classification";

// torchvision's downloadable ImageNet weights name dense-layer modules "norm.1" / "conv.2" (from
// an old nn.Sequential); torchvision renames them to norm1 / conv2 on load, and so does kiln.
StateDict with_current_names(StateDict tensors, const std::string& origin) {
  static const std::regex legacy(R"((denselayer\d+\.)(norm|relu|conv)\.([12])\.)");
  StateDict out;
  for (auto& [name, t] : tensors) {
    const std::string current = std::regex_replace(name, legacy, "$1$2$3.");
    KILN_CHECK(!out.count(current), origin, ": the checkpoint holds both '", name, "' and '",
               current, "'");
    out[current] = std::move(t);
  }
  return out;
}

class DenseNetFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "densenet"; }
  std::vector<std::string> model_types() const override { return {"densenet"}; }
  std::vector<std::string> architectures() const override {
    return {"DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"};
  }
  std::vector<std::string> tasks() const override { return {kImageTask}; }
  bool recognises_config(const nlohmann::json& config) const override {
    return looks_like_densenet_config(config);
  }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const DenseNetConfig c = DenseNetConfig::from_json(config, origin);
    ModelSpec s;
    s.family = name();
    s.model_type = "densenet";
    s.architecture = c.architecture;
    s.task = kImageTask;
    s.labels = c.labels;
    s.input_names = {"pixel_values"};
    s.summary = {{"architecture", c.architecture + " (image classification)"},
                 {"size", c.describe()},
                 image_input_summary(c.preprocessing)};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<DenseNet>(DenseNetConfig::from_json(config, origin));
  }

  nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                  const std::vector<std::string>& labels) const override {
    KILN_CHECK(task == kImageTask, "the densenet family has no '", task,
               "' head (heads: ", kImageTask, ")");
    DenseNetConfig c = DenseNetConfig::from_json(config, "config");
    c.num_classes = static_cast<int64_t>(labels.size());
    c.labels = labels;
    return c.to_json();
  }

  ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                     const std::string& origin) const override {
    return {DenseNetConfig::from_json(config, origin).to_json(),
            with_current_names(std::move(tensors), origin),
            {}};
  }

  ConvertedWeights without_head(const nlohmann::json& config, StateDict tensors,
                                const std::string& /*origin*/) const override {
    ConvertedWeights out{config, {}, {}};
    for (auto& [n, t] : tensors) {
      if (n.rfind("classifier.", 0) == 0)
        out.dropped.push_back(n);
      else
        out.tensors[n] = std::move(t);
    }
    return out;
  }

  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    return DenseNetConfig::from_json(config, origin).parameter_count();
  }

  NamedTensors example_inputs(const nlohmann::json& config, int64_t batch,
                              Generator& gen) const override {
    const ImagePreprocessing p = DenseNetConfig::from_json(config, "config").preprocessing;
    return {{"pixel_values", Tensor::randn({batch, 3, p.height, p.width}, gen)}};
  }
};

KILN_MODEL_FAMILY(DenseNetFamilyEntry);

}  // namespace
}  // namespace kiln::nn
