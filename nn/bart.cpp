#include "nn/bart.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln::nn {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Positions past .. past + length - 1, as rows of the offset position table.
Tensor position_rows(int64_t past, int64_t length) {
  std::vector<int64_t> rows(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) rows[i] = past + i + BartConfig::kPositionOffset;
  return Tensor::from_ints(rows, {length});
}

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

  auto decoder = child("decoder", std::make_shared<Group>());
  decoder->add("embed_tokens", std::make_shared<Embedding>(c.vocab_size, d));
  decoder_positions_ = decoder->add("embed_positions", std::make_shared<Embedding>(positions, d));
  auto decoder_stack = decoder->group("layers");
  for (int64_t i = 0; i < c.decoder_layers; ++i)
    decoder_layers_.push_back(decoder_stack->add(
        std::to_string(i),
        std::make_shared<BartDecoderLayer>(d, c.decoder_heads, c.decoder_ffn_dim, c.activation)));
  decoder_norm_ = decoder->add("layernorm_embedding", std::make_shared<LayerNorm>(d, 1e-5));

  if (c.lm_head) {
    lm_head_ = register_module("lm_head", std::make_shared<Linear>(d, c.vocab_size, false));
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

void BartModel::init_weights(Generator& gen) {
  NoGradGuard ng;
  for (auto& [name, t] : named_parameters()) {
    const bool is_norm = name.find("layer_norm") != std::string::npos ||
                         name.find("layernorm_embedding") != std::string::npos;
    if (is_norm)
      fill_(*t, ends_with(name, "weight") ? 1.0 : 0.0);
    else if (ends_with(name, "bias"))
      fill_(*t, 0.0);
    else
      init_normal_(*t, config_.init_std, gen);
  }
  // nn.Embedding(vocab, d, padding_idx=pad) zeroes that row; the position tables have no padding.
  fill_(select(shared_->weight, 0, config_.pad_token_id), 0.0);
  if (final_logits_bias_) fill_(*final_logits_bias_, 0.0);
}

bool BartModel::drop_layer(double layerdrop) const {
  return training() && dropout_gen_ != nullptr && layerdrop > 0.0 &&
         dropout_gen_->uniform() < layerdrop;
}

Tensor BartModel::embed(const Embedding& positions, const LayerNorm& norm, const Tensor& ids,
                        int64_t past_length) const {
  const int64_t length = ids.size(1);
  KILN_CHECK(past_length + length <= config_.max_position_embeddings, "a sequence of ",
             past_length + length, " tokens is longer than the model's maximum of ",
             config_.max_position_embeddings, " (max_position_embeddings)");
  Tensor x = shared_->forward(ids);
  if (config_.scale_embedding) x = mul(x, config_.embed_scale());
  x = add(x, positions.forward(position_rows(past_length, length)));
  return maybe_dropout(norm.forward(x), config_.dropout, training(), dropout_gen_);
}

BartStackOutput BartModel::encode(const Tensor& ids, const Tensor& mask, bool keep_hidden) const {
  check_ids(ids, "input_ids");
  check_mask(mask, "attention_mask", ids.shape(), "input_ids");
  const BartDropout drop{training(), dropout_gen_, config_.dropout, config_.attention_dropout,
                         config_.activation_dropout};
  BartStackOutput out;
  Tensor x = embed(*encoder_positions_, *encoder_norm_, ids, 0);
  if (keep_hidden) out.hidden_states.push_back(x);
  for (const auto& layer : encoder_layers_) {
    if (!drop_layer(config_.encoder_layerdrop)) x = layer->forward(x, mask, drop);
    if (keep_hidden) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = x;
  return out;
}

BartStackOutput BartModel::decode(const Tensor& ids, const Tensor& mask,
                                  const Tensor& encoder_output, const Tensor& encoder_mask,
                                  bool keep_hidden, BartDecoderCache* cache) const {
  check_ids(ids, "decoder_input_ids");
  const int64_t past = cache ? cache->length : 0;
  check_mask(mask, "decoder_attention_mask", {ids.size(0), past + ids.size(1)},
             past ? "the cached and new decoder tokens" : "decoder_input_ids");
  KILN_CHECK(encoder_output.dim() == 3 && encoder_output.size(0) == ids.size(0) &&
                 encoder_output.size(2) == config_.d_model,
             "the encoder output ", encoder_output.describe(), " does not fit ", ids.size(0),
             " decoder sequences of d_model ", config_.d_model);
  check_mask(encoder_mask, "attention_mask", {ids.size(0), encoder_output.size(1)},
             "the encoder output");
  if (cache) {
    cache->self_attention.resize(decoder_layers_.size());
    cache->cross_attention.resize(decoder_layers_.size());
  }
  const BartDropout drop{training(), dropout_gen_, config_.dropout, config_.attention_dropout,
                         config_.activation_dropout};
  BartStackOutput out;
  Tensor x = embed(*decoder_positions_, *decoder_norm_, ids, past);
  if (keep_hidden) out.hidden_states.push_back(x);
  for (size_t i = 0; i < decoder_layers_.size(); ++i) {
    if (!drop_layer(config_.decoder_layerdrop))
      x = decoder_layers_[i]->forward(x, mask, encoder_output, encoder_mask, drop,
                                      cache ? &cache->self_attention[i] : nullptr,
                                      cache ? &cache->cross_attention[i] : nullptr);
    if (keep_hidden) out.hidden_states.push_back(x);
  }
  if (cache) cache->length += ids.size(1);
  out.last_hidden_state = x;
  return out;
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
  NamedTensors out;
  if (lm_head_) out["logits"] = lm_logits(dec.last_hidden_state);
  out["last_hidden_state"] = dec.last_hidden_state;
  out["encoder_last_hidden_state"] = enc.last_hidden_state;
  for (size_t i = 0; i < enc.hidden_states.size(); ++i)
    out["encoder_hidden_states." + std::to_string(i)] = enc.hidden_states[i];
  for (size_t i = 0; i < dec.hidden_states.size(); ++i)
    out["decoder_hidden_states." + std::to_string(i)] = dec.hidden_states[i];
  return out;
}

}  // namespace kiln::nn
