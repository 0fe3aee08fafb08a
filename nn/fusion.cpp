#include "nn/fusion.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/empty_init.h"

namespace kiln::nn {

bool looks_like_fusion_config(const nlohmann::json& j) {
  return j.is_object() && !j.contains("model_type") && j.contains("image") &&
         j.contains("metadata_encoding");
}

FusionConfig FusionConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  KILN_CHECK(j.contains("image") && j["image"].is_object(), origin,
             ": missing config field 'image' (the DenseNet branch's config)");
  KILN_CHECK(j.contains("metadata_encoding"), origin, ": missing config field 'metadata_encoding'");
  FusionConfig c;
  c.image = DenseNetConfig::from_json(j["image"], origin + " image");
  c.encoding = MetadataEncoding::from_json(j["metadata_encoding"], origin);
  c.meta_dim = image_config_int(j, "meta_dim", c.encoding.size(), origin);
  c.meta_hidden = image_config_int(j, "meta_hidden", 32, origin);
  c.num_classes = image_config_int(j, "num_classes", c.image.num_classes, origin);
  KILN_CHECK(c.meta_dim == c.encoding.size(), origin, ": meta_dim ", c.meta_dim,
             " differs from the metadata encoding's ", c.encoding.size(), " entries");
  KILN_CHECK(c.meta_hidden > 0 && c.meta_hidden <= 100000, origin,
             ": meta_hidden must be in [1, 100000]");
  KILN_CHECK(c.num_classes == c.image.num_classes, origin, ": num_classes ", c.num_classes,
             " differs from the image branch's ", c.image.num_classes);
  c.labels = image_config_strings(j, "class_names", origin);
  if (c.labels.empty()) c.labels = c.image.labels;
  KILN_CHECK(static_cast<int64_t>(c.labels.size()) == c.num_classes, origin, ": ", c.labels.size(),
             " class names for num_classes ", c.num_classes);
  c.image.labels = c.labels;
  if (j.contains("class_weights") && !j["class_weights"].is_null()) {
    KILN_CHECK(j["class_weights"].is_array() &&
                   static_cast<int64_t>(j["class_weights"].size()) == c.num_classes,
               origin, ": class_weights must hold one number per class");
    for (const auto& w : j["class_weights"]) {
      KILN_CHECK(w.is_number(), origin, ": class_weights must hold numbers");
      c.class_weights.push_back(w.get<double>());
    }
  }
  c.preprocessing = read_image_preprocessing(j, origin);
  c.image.preprocessing = c.preprocessing;
  return c;
}

nlohmann::json FusionConfig::to_json() const {
  nlohmann::json j = {{"model_type", "densenet-fusion"},
                      {"architecture", "DenseNetFusion"},
                      {"image", image.to_json()},
                      {"meta_dim", meta_dim},
                      {"meta_hidden", meta_hidden},
                      {"num_classes", num_classes},
                      {"class_names", labels},
                      {"metadata_encoding", encoding.to_json()},
                      {"preprocessing", preprocessing.to_json()}};
  if (!class_weights.empty()) j["class_weights"] = class_weights;
  return j;
}

int64_t FusionConfig::parameter_count() const {
  return image.parameter_count() + meta_dim * meta_hidden + meta_hidden +
         meta_hidden * meta_hidden + meta_hidden + meta_hidden * num_classes + num_classes + 2;
}

FusionModel::FusionModel(const FusionConfig& c)
    : fusion_logits(register_parameter("fusion_logits", new_state_tensor({2}, 0.0))), config_(c) {
  // Registration order is torch's: image, meta, meta_head (fusion_logits, a direct parameter,
  // comes first in torch's named_parameters(); order matters to no optimizer here).
  image = register_module("image", std::make_shared<DenseNet>(c.image));
  auto meta = register_module("meta", std::make_shared<Group>());
  fc1 = meta->add("fc1", std::make_shared<Linear>(c.meta_dim, c.meta_hidden));
  fc2 = meta->add("fc2", std::make_shared<Linear>(c.meta_hidden, c.meta_hidden));
  meta_head = register_module("meta_head", std::make_shared<Linear>(c.meta_hidden, c.num_classes));
}

NamedTensors FusionModel::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  check_input_names(inputs, {"pixel_values", "metadata"}, "densenet-fusion");
  const Tensor& m = required_input(inputs, "metadata");
  KILN_CHECK(m.dim() == 2 && m.size(1) == config_.meta_dim,
             "densenet-fusion: metadata must be [N, ", config_.meta_dim, "], got ", m.describe());
  NamedTensors out;
  NamedTensors* acts = options.hidden_states ? &out : nullptr;
  Tensor li = image->classify(
      image->pooled_features(required_input(inputs, "pixel_values"), acts, "image."));
  Tensor h = relu(fc2->forward(relu(fc1->forward(m))));
  if (acts) out["meta_head.input"] = h;
  Tensor lm = meta_head->forward(h);
  Tensor w = softmax(fusion_logits, 0);
  out["logits"] = add(mul(li, select(w, 0, 0)), mul(lm, select(w, 0, 1)));
  out["image_logits"] = li;
  out["meta_logits"] = lm;
  out["fusion_weights"] = w;
  return out;
}

void FusionModel::init_weights(Generator& gen) {
  image->init_weights(gen);
  for (auto* l : {fc1.get(), fc2.get(), meta_head.get()})
    init_linear_default(l->weight, l->bias, gen);
  NoGradGuard ng;
  fill_(fusion_logits, 0.0);
}

}  // namespace kiln::nn
