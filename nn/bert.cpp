#include "nn/bert.h"

#include <cmath>
#include <optional>

#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"

namespace kiln::nn {

namespace {

template <typename T>
T field(const nlohmann::json& j, const char* name, const std::string& origin) {
  KILN_CHECK(j.contains(name), origin, ": missing config field '", name, "'");
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(origin + ": config field '" + name + "' has the wrong type (" +
                j.at(name).type_name() + ")");
  }
}

template <typename T>
T field_or(const nlohmann::json& j, const char* name, T def, const std::string& origin) {
  if (!j.contains(name) || j.at(name).is_null()) return def;
  return field<T>(j, name, origin);
}

// Bounds on the sizes a config may give, far above any real encoder (BERT-large: 24 layers,
// hidden 1024; XLM-R: 250k tokens), so that an absurd value is refused here, naming the field,
// instead of looping over a billion layers or allocating terabytes. Products of sizes that are
// each in bounds are checked against memory or the stored tensors (nn/family.h).
constexpr int64_t kMaxLayers = 1024, kMaxHidden = 65536, kMaxIntermediate = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 24, kMaxPositions = 1 << 20, kMaxTypes = 1 << 16;

// A size from the config: an integer (a float with no fraction is accepted: 1e3) in [lo, hi].
int64_t size_field(const nlohmann::json& j, const char* name, int64_t lo, int64_t hi,
                   const std::string& origin, std::optional<int64_t> def = std::nullopt) {
  if (def && (!j.contains(name) || j.at(name).is_null())) return *def;
  KILN_CHECK(j.contains(name), origin, ": missing config field '", name, "'");
  const nlohmann::json& v = j.at(name);
  KILN_CHECK(v.is_number(), origin, ": config field '", name, "' has the wrong type (",
             v.type_name(), ")");
  const double d = v.get<double>();
  KILN_CHECK(d == std::floor(d) && d >= static_cast<double>(lo) && d <= static_cast<double>(hi),
             origin, ": config field '", name, "' is ", v.dump(), "; it must be an integer from ",
             lo, " to ", hi);
  return v.is_number_float() ? static_cast<int64_t>(d) : v.get<int64_t>();
}

// A dropout probability: must lie in [0, 1) (1 would zero every activation).
double probability_or(const nlohmann::json& j, const char* name, double def,
                      const std::string& origin) {
  const double p = field_or<double>(j, name, def, origin);
  KILN_CHECK(p >= 0.0 && p < 1.0, origin, ": config field '", name, "' is ", p,
             "; a dropout probability must be in [0, 1)");
  return p;
}

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  BertConfig c;
  c.model_type = field<std::string>(j, "model_type", origin);
  if (c.model_type == "bert")
    c.family = BertFamily::Bert;
  else if (c.model_type == "roberta")
    c.family = BertFamily::Roberta;
  else if (c.model_type == "distilbert")
    c.family = BertFamily::DistilBert;
  else
    throw Error(origin + ": model_type '" + c.model_type +
                "' is not in the BERT family (expected bert, roberta or distilbert)");
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    arch = j["architectures"][0].get<std::string>();
  c.architecture = arch;
  auto ends_with = [&](const char* suffix) {
    const std::string s(suffix);
    return arch.size() >= s.size() && arch.compare(arch.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with("ForTokenClassification"))
    c.task = BertTask::TokenClassification;
  else if (ends_with("ForSequenceClassification"))
    c.task = BertTask::SequenceClassification;
  else if (arch.empty() || ends_with("Model"))
    c.task = BertTask::Base;
  else
    throw Error(origin + ": architecture '" + arch +
                "' is not supported (expected *Model, "
                "*ForTokenClassification or *ForSequenceClassification; `kiln convert` keeps the "
                "encoder of *ForMaskedLM and *ForPreTraining checkpoints)");

  c.vocab_size = size_field(j, "vocab_size", 1, kMaxVocab, origin);
  c.max_position_embeddings = size_field(j, "max_position_embeddings", 1, kMaxPositions, origin);
  c.pad_token_id = field_or<int64_t>(j, "pad_token_id", 0, origin);
  c.initializer_range = field_or<double>(j, "initializer_range", 0.02, origin);
  if (c.family == BertFamily::DistilBert) {
    c.hidden_size = size_field(j, "dim", 1, kMaxHidden, origin);
    c.num_layers = size_field(j, "n_layers", 1, kMaxLayers, origin);
    c.num_heads = size_field(j, "n_heads", 1, c.hidden_size, origin);
    c.intermediate_size = size_field(j, "hidden_dim", 1, kMaxIntermediate, origin);
    c.hidden_act = field_or<std::string>(j, "activation", "gelu", origin);
    c.hidden_dropout = probability_or(j, "dropout", 0.1, origin);
    c.attention_dropout = probability_or(j, "attention_dropout", 0.1, origin);
    c.classifier_dropout = probability_or(j, "seq_classif_dropout", 0.2, origin);
    c.layer_norm_eps = 1e-12;  // fixed in Hugging Face's DistilBERT
    KILN_CHECK(!field_or<bool>(j, "sinusoidal_pos_embds", false, origin), origin,
               ": sinusoidal_pos_embds=true is not supported");
  } else {
    c.hidden_size = size_field(j, "hidden_size", 1, kMaxHidden, origin);
    c.num_layers = size_field(j, "num_hidden_layers", 1, kMaxLayers, origin);
    c.num_heads = size_field(j, "num_attention_heads", 1, c.hidden_size, origin);
    c.intermediate_size = size_field(j, "intermediate_size", 1, kMaxIntermediate, origin);
    c.type_vocab_size = size_field(j, "type_vocab_size", 1, kMaxTypes, origin, 2);
    c.hidden_act = field_or<std::string>(j, "hidden_act", "gelu", origin);
    c.layer_norm_eps = field_or<double>(j, "layer_norm_eps", 1e-12, origin);
    c.hidden_dropout = probability_or(j, "hidden_dropout_prob", 0.1, origin);
    c.attention_dropout = probability_or(j, "attention_probs_dropout_prob", 0.1, origin);
    c.classifier_dropout = probability_or(j, "classifier_dropout", c.hidden_dropout, origin);
    const auto pos_type = field_or<std::string>(j, "position_embedding_type", "absolute", origin);
    KILN_CHECK(pos_type == "absolute", origin, ": position_embedding_type '", pos_type,
               "' is not supported (expected absolute)");
  }
  KILN_CHECK(c.hidden_act == "gelu" || c.hidden_act == "gelu_new" || c.hidden_act == "relu" ||
                 c.hidden_act == "gelu_pytorch_tanh",
             origin, ": hidden activation '", c.hidden_act,
             "' is not supported (expected gelu, gelu_new, gelu_pytorch_tanh or relu)");
  KILN_CHECK(c.hidden_size > 0 && c.num_heads > 0 && c.hidden_size % c.num_heads == 0, origin,
             ": hidden size ", c.hidden_size, " is not divisible by ", c.num_heads, " heads");
  // RoBERTa numbers positions from pad_token_id + 1: at least one position must remain.
  KILN_CHECK(c.pad_token_id >= 0 && (c.family != BertFamily::Roberta || c.max_tokens() >= 1),
             origin, ": config field 'pad_token_id' is ", c.pad_token_id,
             c.pad_token_id < 0 ? "; it must not be negative"
                                : "; RoBERTa numbers positions after it, so it must be below "
                                  "max_position_embeddings - 1");
  // Bare RobertaModel/BertModel checkpoints carry a pooler unless the config says otherwise (the
  // encoder kept from a BertForMaskedLM or RobertaForMaskedLM has none: kiln writes
  // add_pooling_layer=false, the name of transformers' constructor argument). Classification
  // heads decide for themselves: only BertForSequenceClassification reads the pooler.
  const bool base_pooler = field_or<bool>(j, "add_pooling_layer", true, origin);
  c.add_pooler = c.family != BertFamily::DistilBert &&
                 ((c.task == BertTask::Base && base_pooler) ||
                  (c.task == BertTask::SequenceClassification && c.family == BertFamily::Bert));
  if (c.task != BertTask::Base) {
    KILN_CHECK(j.contains("id2label") && j["id2label"].is_object(), origin,
               ": a classification model needs the 'id2label' field");
    const auto& m = j["id2label"];
    c.labels.assign(m.size(), "");
    for (auto it = m.begin(); it != m.end(); ++it) {
      size_t id = 0;
      try {
        id = std::stoul(it.key());
      } catch (const std::exception&) {
        throw Error(origin + ": id2label key '" + it.key() + "' is not an integer");
      }
      KILN_CHECK(id < c.labels.size() && it.value().is_string(), origin,
                 ": id2label must map 0..n-1 to label strings (bad key '", it.key(), "')");
      c.labels[id] = it.value().get<std::string>();
    }
  }
  return c;
}

// One encoder layer. The member names follow BERT; DistilBERT reuses the class with its own
// names for the same six linear maps and two norms.
class BertLayer : public Group {
 public:
  BertLayer(const BertConfig& c) : heads_(c.num_heads), act_(c.hidden_act) {
    const int64_t h = c.hidden_size, f = c.intermediate_size;
    if (c.family == BertFamily::DistilBert) {
      auto att = group("attention");
      q_ = att->add("q_lin", std::make_shared<Linear>(h, h));
      k_ = att->add("k_lin", std::make_shared<Linear>(h, h));
      v_ = att->add("v_lin", std::make_shared<Linear>(h, h));
      o_ = att->add("out_lin", std::make_shared<Linear>(h, h));
      norm1_ = add("sa_layer_norm", std::make_shared<LayerNorm>(h, c.layer_norm_eps));
      auto ffn = group("ffn");
      up_ = ffn->add("lin1", std::make_shared<Linear>(h, f));
      down_ = ffn->add("lin2", std::make_shared<Linear>(f, h));
      norm2_ = add("output_layer_norm", std::make_shared<LayerNorm>(h, c.layer_norm_eps));
    } else {
      auto att = group("attention");
      auto self = att->group("self");
      q_ = self->add("query", std::make_shared<Linear>(h, h));
      k_ = self->add("key", std::make_shared<Linear>(h, h));
      v_ = self->add("value", std::make_shared<Linear>(h, h));
      auto att_out = att->group("output");
      o_ = att_out->add("dense", std::make_shared<Linear>(h, h));
      norm1_ = att_out->add("LayerNorm", std::make_shared<LayerNorm>(h, c.layer_norm_eps));
      up_ = group("intermediate")->add("dense", std::make_shared<Linear>(h, f));
      auto out = group("output");
      down_ = out->add("dense", std::make_shared<Linear>(f, h));
      norm2_ = out->add("LayerNorm", std::make_shared<LayerNorm>(h, c.layer_norm_eps));
    }
    hidden_dropout_ = c.hidden_dropout;
    attention_dropout_ = c.attention_dropout;
  }

  Tensor activation(const Tensor& x) const {
    if (act_ == "gelu") return gelu(x);
    if (act_ == "relu") return relu(x);
    return gelu(x, GeluApprox::Tanh);
  }

  Tensor forward(const Tensor& x, const Tensor& key_mask, bool training, Generator* gen) const {
    const int64_t b = x.size(0), l = x.size(1), hdim = x.size(2), dh = hdim / heads_;
    auto split_heads = [&](const Tensor& t) {
      return permute(reshape(t, {b, l, heads_, dh}), {0, 2, 1, 3});
    };
    AttentionOptions opt;
    opt.key_padding_mask = key_mask;
    if (training && gen) {  // attention_probs_dropout_prob (DistilBERT: attention_dropout)
      opt.dropout_p = attention_dropout_;
      opt.dropout_generator = gen;
    }
    const std::vector<Tensor> qkv = forward_shared_input(x, {q_.get(), k_.get(), v_.get()});
    Tensor ctx = scaled_dot_product_attention(split_heads(qkv[0]), split_heads(qkv[1]),
                                              split_heads(qkv[2]), opt);
    ctx = reshape(permute(ctx, {0, 2, 1, 3}), {b, l, hdim});
    if (!training) {
      // No dropout between the projections and the residual adds: bias, GELU and residual go
      // into the GEMMs (Linear::forward_fused; same bits as the unfused ops below).
      Tensor a = norm1_->forward(o_->forward_fused(ctx, LinearActivation::kNone, x));
      Tensor u = act_ == "gelu" ? up_->forward_fused(a, LinearActivation::kGelu)
                                : activation(up_->forward(a));
      return norm2_->forward(down_->forward_fused(u, LinearActivation::kNone, a));
    }
    Tensor a = norm1_->forward(
        kiln::add(maybe_dropout(o_->forward(ctx), hidden_dropout_, training, gen), x));
    Tensor f = down_->forward(activation(up_->forward(a)));
    return norm2_->forward(kiln::add(maybe_dropout(f, hidden_dropout_, training, gen), a));
  }

 private:
  int64_t heads_;
  std::string act_;
  double hidden_dropout_ = 0.0, attention_dropout_ = 0.0;
  std::shared_ptr<Linear> q_, k_, v_, o_, up_, down_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
};

BertModel::BertModel(const BertConfig& c) : config_(c) {
  const int64_t h = c.hidden_size;
  // *Model checkpoints have no prefix; task heads nest the encoder under the family's name.
  Group* base = nullptr;
  if (c.task != BertTask::Base)
    base = register_module(c.model_type, std::make_shared<Group>()).get();
  auto sub = [&](const std::string& name) {
    return base ? base->group(name) : register_module(name, std::make_shared<Group>());
  };
  auto emb = sub("embeddings");
  word_ = emb->add("word_embeddings", std::make_shared<Embedding>(c.vocab_size, h));
  position_ =
      emb->add("position_embeddings", std::make_shared<Embedding>(c.max_position_embeddings, h));
  if (c.family != BertFamily::DistilBert) {
    token_type_ =
        emb->add("token_type_embeddings", std::make_shared<Embedding>(c.type_vocab_size, h));
    // Hugging Face stores position_ids as a persistent buffer; accept it when present.
    emb->add_buffer("position_ids", reshape(Tensor::arange(c.max_position_embeddings), {1, -1}));
  }
  emb_norm_ = emb->add("LayerNorm", std::make_shared<LayerNorm>(h, c.layer_norm_eps));
  auto stack = c.family == BertFamily::DistilBert ? sub("transformer")->group("layer")
                                                  : sub("encoder")->group("layer");
  for (int64_t i = 0; i < c.num_layers; ++i)
    layers_.push_back(stack->add(std::to_string(i), std::make_shared<BertLayer>(c)));
  if (c.add_pooler) pooler_ = sub("pooler")->add("dense", std::make_shared<Linear>(h, h));

  const int64_t nl = c.num_labels();
  if (c.task == BertTask::TokenClassification) {
    classifier_ = register_module("classifier", std::make_shared<Linear>(h, nl));
  } else if (c.task == BertTask::SequenceClassification) {
    if (c.family == BertFamily::Roberta) {
      auto head = register_module("classifier", std::make_shared<Group>());
      head_dense_ = head->add("dense", std::make_shared<Linear>(h, h));
      classifier_ = head->add("out_proj", std::make_shared<Linear>(h, nl));
    } else if (c.family == BertFamily::DistilBert) {
      pre_classifier_ = register_module("pre_classifier", std::make_shared<Linear>(h, h));
      classifier_ = register_module("classifier", std::make_shared<Linear>(h, nl));
    } else {
      classifier_ = register_module("classifier", std::make_shared<Linear>(h, nl));
    }
  }
}

BertModel::~BertModel() = default;

void BertModel::init_weights(Generator& gen) {
  NoGradGuard ng;
  for (auto& [name, t] : named_parameters()) {
    const bool is_norm =
        name.find("LayerNorm") != std::string::npos || name.find("layer_norm") != std::string::npos;
    if (is_norm) {
      fill_(*t, name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 ? 1.0 : 0.0);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      fill_(*t, 0.0);
    } else {
      init_normal_(*t, config_.initializer_range, gen);
    }
  }
  if (config_.pad_token_id >= 0 && config_.pad_token_id < config_.vocab_size)
    fill_(select(word_->weight, 0, config_.pad_token_id), 0.0);
}

Tensor BertModel::embed(const Tensor& ids, const Tensor& token_types) const {
  const int64_t b = ids.size(0), l = ids.size(1);
  KILN_CHECK(l <= config_.max_position_embeddings, "input of ", l,
             " tokens is longer than the model's maximum of ", config_.max_position_embeddings);
  Tensor positions;
  if (config_.family == BertFamily::Roberta) {
    // RoBERTa numbers real tokens from pad_token_id + 1; padding keeps pad_token_id.
    auto v = ids.to_ints();
    std::vector<int64_t> pos(v.size());
    for (int64_t i = 0; i < b; ++i) {
      int64_t count = 0;
      for (int64_t j = 0; j < l; ++j) {
        const bool real = v[i * l + j] != config_.pad_token_id;
        count += real;
        pos[i * l + j] = real ? count + config_.pad_token_id : config_.pad_token_id;
      }
    }
    positions = Tensor::from_ints(pos, {b, l});
  } else {
    positions = expand(unsqueeze(Tensor::arange(l), 0), {b, l});
  }
  Tensor x = add(word_->forward(ids), position_->forward(positions));
  if (token_type_) {
    Tensor tt = token_types.defined() ? token_types : Tensor::zeros({b, l}, DType::I64);
    x = add(x, token_type_->forward(tt));
  }
  return maybe_dropout(emb_norm_->forward(x), config_.hidden_dropout, training(), dropout_gen_);
}

BertOutput BertModel::forward(const Tensor& ids, const Tensor& mask, const Tensor& token_types,
                              bool keep_hidden) const {
  KILN_CHECK(ids.dim() == 2, "input_ids must be [batch, length], got ", ids.describe());
  BertOutput out;
  Tensor x = embed(ids, token_types);
  if (keep_hidden) out.hidden_states.push_back(x);
  for (const auto& layer : layers_) {
    if (checkpointing_ && grad_enabled()) {
      const bool training_now = training();
      Generator* gen = dropout_gen_;
      x = checkpoint(
          [layer, training_now, gen](const std::vector<Tensor>& in) {
            return layer->forward(in[0], in[1], training_now, gen);
          },
          {x, mask}, gen);
    } else {
      x = layer->forward(x, mask, training(), dropout_gen_);
    }
    if (keep_hidden) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = x;
  if (pooler_) out.pooled = tanh(pooler_->forward(select(x, 1, 0)));
  const double p = config_.classifier_dropout;
  switch (config_.task) {
    case BertTask::Base:
      break;
    case BertTask::TokenClassification:
      out.logits = classifier_->forward(maybe_dropout(x, p, training(), dropout_gen_));
      break;
    case BertTask::SequenceClassification:
      if (config_.family == BertFamily::Bert) {
        out.logits = classifier_->forward(maybe_dropout(out.pooled, p, training(), dropout_gen_));
      } else if (config_.family == BertFamily::Roberta) {
        Tensor cls = maybe_dropout(select(x, 1, 0), p, training(), dropout_gen_);
        cls = maybe_dropout(tanh(head_dense_->forward(cls)), p, training(), dropout_gen_);
        out.logits = classifier_->forward(cls);
      } else {
        Tensor cls = relu(pre_classifier_->forward(select(x, 1, 0)));
        out.logits = classifier_->forward(maybe_dropout(cls, p, training(), dropout_gen_));
      }
      break;
  }
  return out;
}

}  // namespace kiln::nn

namespace kiln::nn {

NamedTensors BertModel::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  const std::vector<std::string> known =
      config_.family == BertFamily::DistilBert
          ? std::vector<std::string>{"input_ids", "attention_mask"}
          : std::vector<std::string>{"input_ids", "attention_mask", "token_type_ids"};
  check_input_names(inputs, known, config_.model_type);
  const Tensor& ids = required_input(inputs, "input_ids");
  KILN_CHECK(ids.dim() == 2, "input_ids must be [batch, length], got ", ids.describe());
  Tensor mask = optional_input(inputs, "attention_mask");
  if (!mask.defined()) mask = Tensor::from_ints(std::vector<int64_t>(ids.numel(), 1), ids.shape());
  KILN_CHECK(mask.shape() == ids.shape(), "attention_mask ", mask.describe(),
             " must have the shape of input_ids ", ids.describe());
  const Tensor types = optional_input(inputs, "token_type_ids");
  KILN_CHECK(!types.defined() || types.shape() == ids.shape(), "token_type_ids ", types.describe(),
             " must have the shape of input_ids ", ids.describe());
  BertOutput o = forward(ids, mask, types, options.hidden_states);
  NamedTensors out;
  if (o.logits.defined()) out["logits"] = o.logits;
  out["last_hidden_state"] = o.last_hidden_state;
  if (o.pooled.defined()) out["pooler_output"] = o.pooled;
  for (size_t i = 0; i < o.hidden_states.size(); ++i)
    out["hidden_states." + std::to_string(i)] = o.hidden_states[i];
  return out;
}

}  // namespace kiln::nn
