#include "nn/bart.h"

#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"
#include "nn/bart_init.h"

namespace kiln::nn {

namespace {

void check_ids(const Tensor& ids, const char* name) {
  KILN_CHECK(ids.dim() == 2, name, " must be [batch, length], got ", ids.describe());
  KILN_CHECK(!is_floating(ids.dtype()), name, " must hold integer token ids, got ", ids.describe());
}

void check_mask(const Tensor& mask, const char* name, const Shape& want, const char* of) {
  KILN_CHECK(!mask.defined() || mask.shape() == want, name, " ", mask.describe(),
             " must have the shape of ", of, " ", shape_str(want));
}

}  // namespace

Tensor shift_tokens_right(const Tensor& ids, int64_t pad_token_id, int64_t decoder_start_token_id) {
  check_ids(ids, "the ids to shift right");
  const int64_t b = ids.size(0), l = ids.size(1);
  const std::vector<int64_t> v = ids.to_ints();
  std::vector<int64_t> out(v.size());
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < l; ++j) {
      const int64_t id = j == 0 ? decoder_start_token_id : v[i * l + j - 1];
      out[i * l + j] = id == -100 ? pad_token_id : id;  // -100 marks ignored label positions
    }
  }
  return Tensor::from_ints(out, {b, l});
}

BartModel::BartModel(const BartConfig& c) : config_(c) {
  const int64_t d = c.d_model;
  // BartForConditionalGeneration nests the encoder-decoder under "model."; BartModel is bare.
  std::shared_ptr<Group> base;
  if (c.lm_head) base = register_module("model", std::make_shared<Group>());
  auto child = [&](const std::string& name, auto module) {
    return base ? base->add(name, module) : register_module(name, module);
  };
  const std::string prefix = c.lm_head ? "model." : "";
  shared_ = child("shared", std::make_shared<Embedding>(c.vocab_size, d));
  const int64_t positions = c.max_position_embeddings + BartConfig::kPositionOffset;

  auto encoder = child("encoder", std::make_shared<Group>());
  encoder->add("embed_tokens", std::make_shared<Embedding>(c.vocab_size, d));
  encoder_positions_ = encoder->add("embed_positions", std::make_shared<Embedding>(positions, d));
  auto encoder_stack = encoder->group("layers");
  for (int64_t i = 0; i < c.encoder_layers; ++i)
    encoder_layers_.push_back(encoder_stack->add(
        std::to_string(i),
        std::make_shared<BartEncoderLayer>(d, c.encoder_heads, c.encoder_ffn_dim, c.activation)));
  encoder_norm_ = encoder->add("layernorm_embedding", std::make_shared<LayerNorm>(d, 1e-5));

  decoder_ =
      child("decoder",
            std::make_shared<BartDecoder>(
                c.vocab_size, d, c.decoder_layers, c.decoder_heads, c.decoder_ffn_dim, c.activation,
                BartPositions{c.max_position_embeddings, BartConfig::kPositionOffset,
                              c.embed_scale(), "max_position_embeddings"},
                c.decoder_layerdrop));

  if (c.lm_head) {
    lm_head_ = register_module("lm_head", std::make_shared<Linear>(d, c.vocab_size, false));
    // A default, not a placeholder, even under EmptyInit: transformers zero-fills it when a
    // checkpoint lacks it.
    final_logits_bias_ = &register_buffer("final_logits_bias", Tensor::zeros({1, c.vocab_size}));
  }
  // transformers builds both stacks over the one shared embedding whatever tie_word_embeddings
  // says; that flag only ties the LM head. model.shared.weight is the canonical name (it comes
  // first, as in torch's named_parameters()).
  tie_parameter(prefix + "encoder.embed_tokens.weight", prefix + "shared.weight");
  tie_parameter(prefix + "decoder.embed_tokens.weight", prefix + "shared.weight");
  if (c.lm_head && c.tie_word_embeddings) tie_parameter("lm_head.weight", prefix + "shared.weight");
}

BartModel::~BartModel() = default;

void BartModel::set_gradient_checkpointing(bool on) {
  checkpointing_ = on;
  decoder_->set_gradient_checkpointing(on);
}

void BartModel::init_weights(Generator& gen) {
  init_bart_style_weights(*this, config_.init_std, gen, shared_->weight, config_.pad_token_id,
                          final_logits_bias_);
}

BartDropout BartModel::dropout_settings() const {
  return {training(), dropout_gen_, config_.dropout, config_.attention_dropout,
          config_.activation_dropout};
}

BartStackOutput BartModel::encode(const Tensor& ids, const Tensor& mask, bool keep_hidden) const {
  check_ids(ids, "input_ids");
  check_mask(mask, "attention_mask", ids.shape(), "input_ids");
  const BartDropout drop = dropout_settings();
  const BartPositions layout{config_.max_position_embeddings, BartConfig::kPositionOffset,
                             config_.embed_scale(), "max_position_embeddings"};
  BartStackOutput out;
  Tensor x =
      embed_with_positions(*shared_, *encoder_positions_, *encoder_norm_, layout, ids, 0, drop);
  if (keep_hidden) out.hidden_states.push_back(x);
  for (const auto& layer : encoder_layers_) {
    if (skip_layer(drop, config_.encoder_layerdrop)) {
      // LayerDrop skipped this layer
    } else if (checkpointing_ && grad_enabled()) {
      x = checkpoint(
          [layer, drop](const std::vector<Tensor>& in) {
            return layer->forward(in[0], in[1], drop);
          },
          {x, mask}, drop.gen);
    } else {
      x = layer->forward(x, mask, drop);
    }
    if (keep_hidden) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = x;
  return out;
}

BartStackOutput BartModel::decode(const Tensor& ids, const Tensor& mask,
                                  const Tensor& encoder_output, const Tensor& encoder_mask,
                                  bool keep_hidden, BartDecoderCache* cache) const {
  check_ids(ids, "decoder_input_ids");
  return decoder_->forward(*shared_, ids, mask, encoder_output, encoder_mask, dropout_settings(),
                           keep_hidden, cache);
}

Tensor BartModel::lm_logits(const Tensor& decoder_hidden) const {
  KILN_CHECK(lm_head_, "this ", config_.architecture.empty() ? "BartModel" : config_.architecture,
             " has no LM head (BartForConditionalGeneration has one)");
  return add(lm_head_->forward(decoder_hidden), *final_logits_bias_);
}

NamedTensors BartModel::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  check_input_names(inputs,
                    {"input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"},
                    "bart");
  const Tensor& ids = required_input(inputs, "input_ids");
  check_ids(ids, "input_ids");
  const Tensor mask = optional_input(inputs, "attention_mask");
  check_mask(mask, "attention_mask", ids.shape(), "input_ids");
  Tensor decoder_ids = optional_input(inputs, "decoder_input_ids");
  // transformers' BartModel does the same when it gets neither decoder_input_ids nor labels.
  if (!decoder_ids.defined())
    decoder_ids = shift_tokens_right(ids, config_.pad_token_id, config_.decoder_start_token_id);
  check_ids(decoder_ids, "decoder_input_ids");
  KILN_CHECK(decoder_ids.size(0) == ids.size(0), "decoder_input_ids ", decoder_ids.describe(),
             " must have the batch size of input_ids ", ids.describe());
  const Tensor decoder_mask = optional_input(inputs, "decoder_attention_mask");

  const bool hidden = options.hidden_states;
  const BartStackOutput enc = encode(ids, mask, hidden);
  const BartStackOutput dec =
      decode(decoder_ids, decoder_mask, enc.last_hidden_state, mask, hidden);
  NamedTensors out = encoder_decoder_outputs(enc, dec);
  if (lm_head_) out["logits"] = lm_logits(dec.last_hidden_state);
  return out;
}

}  // namespace kiln::nn
