// The metadata-only classifier (nn/metadata_mlp.h) in the model-family registry. Its config is
// kiln's own (model_type "metadata-mlp"); a config for training from scratch may leave out the
// metadata encoding, which `kiln train --metadata-fields` learns from the data.
#include <sstream>

#include "nn/family.h"
#include "nn/metadata_mlp.h"

namespace kiln::nn {
namespace {

constexpr const char* kImageTask = "image-classification";

class MetadataMlpFamilyEntry : public ModelFamily {
 public:
  std::string name() const override { return "metadata-mlp"; }
  std::vector<std::string> model_types() const override { return {"metadata-mlp"}; }
  std::vector<std::string> architectures() const override { return {"MetadataMLP"}; }
  // The metadata of an image-classification record (kiln's task reads both).
  std::vector<std::string> tasks() const override { return {kImageTask}; }

  ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const override {
    const MetadataMlpConfig c = MetadataMlpConfig::from_json(config, origin);
    ModelSpec s;
    s.family = name();
    s.model_type = "metadata-mlp";
    s.architecture = "MetadataMLP";
    s.task = kImageTask;
    s.labels = c.labels;
    s.input_names = {"metadata"};
    std::ostringstream meta;
    meta << "metadata [N, " << c.meta_dim << "]: " << c.encoding.age_field << " (mean "
         << c.encoding.age_mean << ", std " << c.encoding.age_std << ")";
    for (const auto& [field, values] : c.encoding.categorical)
      meta << ", " << field << " (" << values.size() << " categories)";
    s.summary = {
        {"architecture", "MetadataMLP (metadata-only classification)"},
        {"size", "MLP " + std::to_string(c.meta_dim) + " -> " + std::to_string(c.meta_hidden) +
                     " -> " + std::to_string(c.meta_hidden) + " -> " +
                     std::to_string(c.num_classes)},
        {"metadata", meta.str()}};
    return s;
  }

  std::unique_ptr<Model> build(const nlohmann::json& config,
                               const std::string& origin) const override {
    return std::make_unique<MetadataMlp>(MetadataMlpConfig::from_json(config, origin));
  }

  // Works on the JSON itself: a config made for training may not hold its encoding yet.
  nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                  const std::vector<std::string>& labels) const override {
    KILN_CHECK(task == kImageTask, "the metadata-mlp family has no '", task,
               "' head (heads: ", kImageTask, ")");
    nlohmann::json c = config;
    c["model_type"] = "metadata-mlp";
    c["architecture"] = "MetadataMLP";
    c["architectures"] = {"MetadataMLP"};
    c["num_classes"] = labels.size();
    c["class_names"] = labels;
    return c;
  }

  int64_t parameter_count(const nlohmann::json& config, const std::string& origin) const override {
    return MetadataMlpConfig::from_json(config, origin).parameter_count();
  }
};

KILN_MODEL_FAMILY(MetadataMlpFamilyEntry);

}  // namespace
}  // namespace kiln::nn
