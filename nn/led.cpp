#include "nn/led.h"

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

// A 0/1 mask of `shape`, or all `fallback` when undefined.
std::vector<int64_t> mask_values(const Tensor& mask, const char* name, const Shape& shape,
                                 int64_t fallback) {
  if (!mask.defined())
    return std::vector<int64_t>(static_cast<size_t>(shape_numel(shape)), fallback);
  KILN_CHECK(mask.shape() == shape, name, " ", mask.describe(),
             " must have the shape of input_ids ", shape_str(shape));
  std::vector<int64_t> v = mask.to_ints();
  for (int64_t x : v) KILN_CHECK(x == 0 || x == 1, name, " must hold 0 and 1, found ", x);
  return v;
}

// transformers pads the input to a multiple of the largest window with pad_token_id (and
// attention_mask 0); position kinds are attention_mask * (global_attention_mask + 1), so 0 on
// the padding whatever the global mask says.
struct PaddedInput {
  Tensor ids;                  // [B, padded]
  std::vector<uint8_t> kinds;  // [B * padded]: 0 padding, 1 local, 2 global
};

PaddedInput pad_input(const Tensor& ids, const Tensor& mask, const Tensor& global_mask,
                      int64_t multiple, int64_t pad_token_id) {
  const int64_t b = ids.size(0), l = ids.size(1), padded = (l + multiple - 1) / multiple * multiple;
  const auto id = ids.to_ints();
  const auto attend = mask_values(mask, "attention_mask", ids.shape(), 1);
  const auto global = mask_values(global_mask, "global_attention_mask", ids.shape(), 0);
  std::vector<int64_t> out(static_cast<size_t>(b * padded), pad_token_id);
  PaddedInput p;
  p.kinds.assign(out.size(), 0);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < l; ++j) {
      out[i * padded + j] = id[i * l + j];
      p.kinds[i * padded + j] = static_cast<uint8_t>(attend[i * l + j] * (global[i * l + j] + 1));
    }
  }
  p.ids = Tensor::from_ints(out, {b, padded});
  return p;
}

}  // namespace

LedModel::LedModel(const LedConfig& c) : config_(c) {
  const BartConfig& s = c.bart;
  const int64_t d = s.d_model;
  KILN_CHECK(static_cast<int64_t>(c.attention_window.size()) == s.encoder_layers,
             "LED: ", c.attention_window.size(), " attention windows for ", s.encoder_layers,
             " encoder layers");
  // LEDForConditionalGeneration nests the encoder-decoder under "led."; LEDModel is bare.
  std::shared_ptr<Group> base;
  if (s.lm_head) base = register_module("led", std::make_shared<Group>());
  auto child = [&](const std::string& name, auto module) {
    return base ? base->add(name, module) : register_module(name, module);
  };
  const std::string prefix = s.lm_head ? "led." : "";
  shared_ = child("shared", std::make_shared<Embedding>(s.vocab_size, d));

  auto encoder = child("encoder", std::make_shared<Group>());
  encoder->add("embed_tokens", std::make_shared<Embedding>(s.vocab_size, d));
  encoder_positions_ =
      encoder->add("embed_positions", std::make_shared<Embedding>(c.max_encoder_positions, d));
  auto encoder_stack = encoder->group("layers");
  for (int64_t i = 0; i < s.encoder_layers; ++i)
    encoder_layers_.push_back(encoder_stack->add(
        std::to_string(i),
        std::make_shared<LedEncoderLayer>(d, s.encoder_heads, s.encoder_ffn_dim, s.activation,
                                          c.attention_window[static_cast<size_t>(i)])));
  encoder_norm_ = encoder->add("layernorm_embedding", std::make_shared<LayerNorm>(d, 1e-5));

  // BART's decoder, whose positions start at row 0 of the table.
  decoder_ =
      child("decoder",
            std::make_shared<BartDecoder>(
                s.vocab_size, d, s.decoder_layers, s.decoder_heads, s.decoder_ffn_dim, s.activation,
                BartPositions{c.max_decoder_positions, 0, 1.0, "max_decoder_position_embeddings"},
                s.decoder_layerdrop));
  if (s.lm_head) {
    lm_head_ = register_module("lm_head", std::make_shared<Linear>(d, s.vocab_size, false));
    // A default, not a placeholder, even under EmptyInit: transformers zero-fills it when a
    // checkpoint lacks it.
    final_logits_bias_ = &register_buffer("final_logits_bias", Tensor::zeros({1, s.vocab_size}));
  }
  // As in BART: both stacks always read the shared embedding; tie_word_embeddings ties the head.
  tie_parameter(prefix + "encoder.embed_tokens.weight", prefix + "shared.weight");
  tie_parameter(prefix + "decoder.embed_tokens.weight", prefix + "shared.weight");
  if (s.lm_head && s.tie_word_embeddings) tie_parameter("lm_head.weight", prefix + "shared.weight");
}

LedModel::~LedModel() = default;

void LedModel::set_gradient_checkpointing(bool on) {
  checkpointing_ = on;
  decoder_->set_gradient_checkpointing(on);
}

void LedModel::init_weights(Generator& gen) {
  init_bart_style_weights(*this, config_.bart.init_std, gen, shared_->weight,
                          config_.bart.pad_token_id, final_logits_bias_);
}

BartDropout LedModel::dropout_settings() const {
  const BartConfig& s = config_.bart;
  return {training(), dropout_gen_, s.dropout, s.attention_dropout, s.activation_dropout};
}

BartStackOutput LedModel::encode(const Tensor& ids, const Tensor& mask, const Tensor& global_mask,
                                 bool keep_hidden) const {
  check_ids(ids, "input_ids");
  const int64_t length = ids.size(1), multiple = config_.padding_multiple();
  PaddedInput in = pad_input(ids, mask, global_mask, multiple, config_.bart.pad_token_id);
  const int64_t padded = in.ids.size(1);
  KILN_CHECK(padded <= config_.max_encoder_positions, "an input of ", length, " tokens (", padded,
             " once padded to a multiple of the largest attention_window, ", multiple,
             ") is longer than the model's maximum of ", config_.max_encoder_positions,
             " (max_encoder_position_embeddings)");
  const LongformerPattern pattern(std::move(in.kinds), ids.size(0), padded);
  // Checkpointed layers keep what they read until their backward.
  std::shared_ptr<const LongformerPattern> shared_pattern;
  if (checkpointing_ && grad_enabled())
    shared_pattern = std::make_shared<const LongformerPattern>(pattern);
  const BartDropout drop = dropout_settings();
  BartStackOutput out;
  // The padding added here is cut from every returned state, as transformers does.
  auto cut = [&](const Tensor& x) { return padded == length ? x : slice(x, 1, 0, length); };
  const BartPositions layout{config_.max_encoder_positions, 0, 1.0,
                             "max_encoder_position_embeddings"};
  Tensor x =
      embed_with_positions(*shared_, *encoder_positions_, *encoder_norm_, layout, in.ids, 0, drop);
  if (keep_hidden) out.hidden_states.push_back(cut(x));
  for (const auto& layer : encoder_layers_) {
    if (skip_layer(drop, config_.bart.encoder_layerdrop)) {
      // LayerDrop skipped this layer
    } else if (checkpointing_ && grad_enabled()) {
      x = checkpoint(
          [layer, shared_pattern, drop](const std::vector<Tensor>& in) {
            return layer->forward(in[0], *shared_pattern, drop);
          },
          {x}, drop.gen);
    } else {
      x = layer->forward(x, pattern, drop);
    }
    if (keep_hidden) out.hidden_states.push_back(cut(x));
  }
  out.last_hidden_state = cut(x);
  return out;
}

BartStackOutput LedModel::decode(const Tensor& ids, const Tensor& mask,
                                 const Tensor& encoder_output, const Tensor& encoder_mask,
                                 bool keep_hidden, BartDecoderCache* cache) const {
  check_ids(ids, "decoder_input_ids");
  return decoder_->forward(*shared_, ids, mask, encoder_output, encoder_mask, dropout_settings(),
                           keep_hidden, cache);
}

Tensor LedModel::lm_logits(const Tensor& decoder_hidden) const {
  KILN_CHECK(lm_head_, "this ", config_.architecture.empty() ? "LEDModel" : config_.architecture,
             " has no LM head (LEDForConditionalGeneration has one)");
  return add(lm_head_->forward(decoder_hidden), *final_logits_bias_);
}

NamedTensors LedModel::forward(const NamedTensors& inputs, const ForwardOptions& options) const {
  check_input_names(inputs,
                    {"input_ids", "attention_mask", "global_attention_mask", "decoder_input_ids",
                     "decoder_attention_mask"},
                    "led");
  const Tensor& ids = required_input(inputs, "input_ids");
  check_ids(ids, "input_ids");
  const Tensor mask = optional_input(inputs, "attention_mask");
  Tensor decoder_ids = optional_input(inputs, "decoder_input_ids");
  // transformers' LEDModel does the same when it gets neither decoder_input_ids nor labels.
  if (!decoder_ids.defined())
    decoder_ids =
        shift_tokens_right(ids, config_.bart.pad_token_id, config_.bart.decoder_start_token_id);
  check_ids(decoder_ids, "decoder_input_ids");
  KILN_CHECK(decoder_ids.size(0) == ids.size(0), "decoder_input_ids ", decoder_ids.describe(),
             " must have the batch size of input_ids ", ids.describe());

  const bool hidden = options.hidden_states;
  const BartStackOutput enc =
      encode(ids, mask, optional_input(inputs, "global_attention_mask"), hidden);
  // Cross-attention sees the input's own mask: global attention is the encoder's business.
  const BartStackOutput dec = decode(decoder_ids, optional_input(inputs, "decoder_attention_mask"),
                                     enc.last_hidden_state, mask, hidden);
  NamedTensors out = encoder_decoder_outputs(enc, dec);
  if (lm_head_) out["logits"] = lm_logits(dec.last_hidden_state);
  return out;
}

}  // namespace kiln::nn
