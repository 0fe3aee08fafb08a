#include "nn/metadata_mlp.h"

#include "core/ops.h"
#include "nn/densenet_config.h"
#include "nn/image_layers.h"

namespace kiln::nn {

MetadataMlpConfig MetadataMlpConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  KILN_CHECK(j.contains("metadata_encoding"), origin,
             ": missing config field 'metadata_encoding' (kiln train --task image-classification "
             "--metadata-fields learns it from the training data)");
  MetadataMlpConfig c;
  c.encoding = MetadataEncoding::from_json(j["metadata_encoding"], origin);
  c.meta_dim = image_config_int(j, "meta_dim", c.encoding.size(), origin);
  c.meta_hidden = image_config_int(j, "meta_hidden", 32, origin);
  c.labels = image_config_strings(j, "class_names", origin);
  c.num_classes = image_config_int(j, "num_classes", static_cast<int64_t>(c.labels.size()), origin);
  KILN_CHECK(c.meta_dim == c.encoding.size(), origin, ": meta_dim ", c.meta_dim,
             " differs from the metadata encoding's ", c.encoding.size(), " entries");
  KILN_CHECK(c.meta_hidden > 0 && c.meta_hidden <= 100000, origin,
             ": meta_hidden must be in [1, 100000]");
  KILN_CHECK(c.num_classes >= 1 && c.num_classes <= 1000000, origin,
             ": num_classes must be in [1, 1000000] (or give class_names)");
  if (c.labels.empty())
    for (int64_t i = 0; i < c.num_classes; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
  KILN_CHECK(static_cast<int64_t>(c.labels.size()) == c.num_classes, origin, ": ", c.labels.size(),
             " class names for num_classes ", c.num_classes);
  return c;
}

nlohmann::json MetadataMlpConfig::to_json() const {
  return {{"model_type", "metadata-mlp"},
          {"architecture", "MetadataMLP"},
          {"meta_dim", meta_dim},
          {"meta_hidden", meta_hidden},
          {"num_classes", num_classes},
          {"class_names", labels},
          {"metadata_encoding", encoding.to_json()}};
}

int64_t MetadataMlpConfig::parameter_count() const {
  return meta_dim * meta_hidden + meta_hidden + meta_hidden * meta_hidden + meta_hidden +
         meta_hidden * num_classes + num_classes;
}

MetadataMlp::MetadataMlp(const MetadataMlpConfig& c) : config_(c) {
  auto meta = register_module("meta", std::make_shared<Group>());
  fc1 = meta->add("fc1", std::make_shared<Linear>(c.meta_dim, c.meta_hidden));
  fc2 = meta->add("fc2", std::make_shared<Linear>(c.meta_hidden, c.meta_hidden));
  meta_head = register_module("meta_head", std::make_shared<Linear>(c.meta_hidden, c.num_classes));
}

NamedTensors MetadataMlp::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  check_input_names(inputs, {"metadata"}, "metadata-mlp");
  const Tensor& m = required_input(inputs, "metadata");
  KILN_CHECK(m.dim() == 2 && m.size(1) == config_.meta_dim, "metadata-mlp: metadata must be [N, ",
             config_.meta_dim, "], got ", m.describe());
  NamedTensors out;
  Tensor h = relu(fc2->forward(relu(fc1->forward(m))));
  if (options.hidden_states) out["meta_head.input"] = h;
  out["logits"] = meta_head->forward(h);
  return out;
}

void MetadataMlp::init_weights(Generator& gen) {
  for (auto* l : {fc1.get(), fc2.get(), meta_head.get()})
    init_linear_default(l->weight, l->bias, gen);
}

}  // namespace kiln::nn
