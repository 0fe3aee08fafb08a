// The BERT encoder family: BERT, RoBERTa and DistilBERT, with token- and sequence-classification
// heads. Parameter names are the Hugging Face state-dict keys of the matching *Model /
// *ForTokenClassification / *ForSequenceClassification class, so a converted checkpoint loads by
// name. Configuration comes from the checkpoint's config.json fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "nn/layers.h"
#include "nn/model.h"

namespace kiln::nn {

enum class BertFamily { Bert, Roberta, DistilBert };
enum class BertTask { Base, TokenClassification, SequenceClassification };

struct BertConfig {
  BertFamily family = BertFamily::Bert;
  BertTask task = BertTask::Base;
  std::string model_type;    // "bert", "roberta", "distilbert"
  std::string architecture;  // e.g. "BertForTokenClassification"
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, intermediate_size = 0;
  int64_t max_position_embeddings = 512, type_vocab_size = 0, pad_token_id = 0;
  double layer_norm_eps = 1e-12, hidden_dropout = 0.1, attention_dropout = 0.1;
  double classifier_dropout = 0.1, initializer_range = 0.02;
  std::string hidden_act = "gelu";
  bool add_pooler = false;          // bare encoders: config add_pooling_layer (default true)
  std::vector<std::string> labels;  // id -> label, for heads

  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
  // The longest input in tokens: RoBERTa numbers positions from pad_token_id + 1.
  int64_t max_tokens() const {
    return family == BertFamily::Roberta ? max_position_embeddings - pad_token_id - 1
                                         : max_position_embeddings;
  }
  // Reads Hugging Face config.json fields; errors name `origin` and the missing/invalid field.
  static BertConfig from_json(const nlohmann::json& j, const std::string& origin);
};

struct BertOutput {
  Tensor logits;                      // [B, L, labels] (token) or [B, labels] (sequence)
  Tensor last_hidden_state;           // [B, L, H]
  Tensor pooled;                      // [B, H] when the model has a pooler
  std::vector<Tensor> hidden_states;  // embeddings output, then each layer's output
};

class BertLayer;

class BertModel : public Model {
 public:
  explicit BertModel(const BertConfig& config);
  ~BertModel() override;

  // Model interface: input_ids, attention_mask (default all ones), token_type_ids (default
  // zeros) -> logits (with a head), last_hidden_state, pooler_output (with a pooler),
  // hidden_states.N (with options.hidden_states).
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;

  // input_ids, attention_mask: [B, L] integer; token_type_ids may be undefined (zeros).
  BertOutput forward(const Tensor& input_ids, const Tensor& attention_mask,
                     const Tensor& token_type_ids = Tensor(),
                     bool keep_hidden_states = false) const;
  // Hugging Face random initialisation (normal(0, initializer_range), zero biases, unit norms).
  void init_weights(Generator& gen) override;
  // Generator used by dropout in training mode (not owned).
  void set_dropout_generator(Generator* gen) override { dropout_gen_ = gen; }
  // Each encoder layer recomputed in backward (core/checkpoint.h).
  void set_gradient_checkpointing(bool on) override { checkpointing_ = on; }

  const BertConfig& config() const { return config_; }

 private:
  Tensor embed(const Tensor& ids, const Tensor& token_types) const;

  BertConfig config_;
  std::shared_ptr<Embedding> word_, position_, token_type_;
  std::shared_ptr<LayerNorm> emb_norm_;
  std::vector<std::shared_ptr<BertLayer>> layers_;
  std::shared_ptr<Linear> pooler_, pre_classifier_, classifier_, head_dense_;
  Generator* dropout_gen_ = nullptr;
  bool checkpointing_ = false;
};

}  // namespace kiln::nn
