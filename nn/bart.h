// BART (Hugging Face transformers 4.30 BartModel / BartForConditionalGeneration): a post-LayerNorm
// encoder-decoder with learned positions offset by 2, an embedding LayerNorm, one token embedding
// shared by the encoder, the decoder and the LM head, and a final_logits_bias buffer. Parameter
// names are the Hugging Face state-dict keys, so a converted checkpoint loads by name.
//
// Generation (nn/generation.h) drives it as a Seq2SeqLM (nn/bart_generation.cpp): decode() with a
// cache takes only the new decoder tokens, appends their self-attention keys/values and computes
// the cross-attention keys/values once.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "nn/bart_decoder.h"
#include "nn/bart_layers.h"
#include "nn/family.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "nn/seq2seq.h"

namespace kiln::nn {

struct BartConfig {
  std::string model_type = "bart";
  std::string architecture;  // BartForConditionalGeneration, BartModel or "" (= BartModel)
  bool lm_head = false;      // BartForConditionalGeneration: lm_head + final_logits_bias
  int64_t vocab_size = 0, d_model = 0, max_position_embeddings = 0;
  // Nothing assumes the encoder and the decoder have the same depth, heads or FFN width.
  int64_t encoder_layers = 0, decoder_layers = 0;
  int64_t encoder_heads = 0, decoder_heads = 0;
  int64_t encoder_ffn_dim = 0, decoder_ffn_dim = 0;
  bool scale_embedding = false;     // token embeddings times sqrt(d_model)
  bool tie_word_embeddings = true;  // lm_head.weight is model.shared.weight
  BartActivation activation = BartActivation::Gelu;
  std::string activation_name = "gelu";  // as the config spells it
  double dropout = 0.1, attention_dropout = 0.0, activation_dropout = 0.0;
  double encoder_layerdrop = 0.0, decoder_layerdrop = 0.0;
  double init_std = 0.02;
  // Token ids (transformers' defaults when absent); -1 = not set. Generation will read them.
  int64_t pad_token_id = 1, bos_token_id = 0, eos_token_id = 2, decoder_start_token_id = 2;
  int64_t forced_bos_token_id = -1, forced_eos_token_id = 2;

  // Position p of a sequence reads row p + 2 of embed_positions.weight (fairseq's layout, kept by
  // transformers), which therefore has max_position_embeddings + 2 rows.
  static constexpr int64_t kPositionOffset = 2;
  double embed_scale() const;
  // Reads Hugging Face config.json fields; errors name `origin` and the missing/invalid field.
  // model_type mbart, pegasus, marian... are refused with the reason (see bart_family.cpp).
  static BartConfig from_json(const nlohmann::json& j, const std::string& origin);
};

// Hugging Face model types close to BART that kiln does not build yet, each with the reason
// (mbart: "mBART checkpoints come with a SentencePiece tokenizer, which kiln cannot read yet...").
std::vector<std::pair<std::string, std::string>> bart_relatives_not_supported();

// decoder_input_ids for teacher forcing, as transformers' shift_tokens_right: the decoder start
// token, then ids[:, :-1], with the label padding -100 replaced by pad_token_id.
Tensor shift_tokens_right(const Tensor& ids, int64_t pad_token_id, int64_t decoder_start_token_id);

// The feed-forward blocks (fc1, fc2) of every encoder and decoder layer, as BartModel (and LED,
// whose layers share the names) stores them under `prefix` ("model.", "led." or "").
std::vector<FeedForwardBlock> bart_feed_forward_blocks(const BartConfig& c,
                                                       const std::string& prefix);

class BartModel : public Model, public Seq2SeqLM {
 public:
  explicit BartModel(const BartConfig& config);
  ~BartModel() override;

  // Model interface. Inputs: input_ids, attention_mask (default all ones), decoder_input_ids
  // (default shift_tokens_right(input_ids), as transformers does without labels),
  // decoder_attention_mask (default: causal only). Outputs: logits (BartForConditionalGeneration:
  // lm_head + final_logits_bias), last_hidden_state (the decoder's), encoder_last_hidden_state,
  // and with options.hidden_states encoder_hidden_states.N and decoder_hidden_states.N.
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;

  // input_ids, attention_mask [B, L] integer (the mask may be undefined: all tokens real).
  BartStackOutput encode(const Tensor& input_ids, const Tensor& attention_mask,
                         bool keep_hidden_states = false) const;
  // decoder_input_ids [B, T]; decoder_attention_mask [B, past + T] or undefined; encoder_output
  // [B, L, d_model] with its attention_mask [B, L] (may be undefined). With a cache, the ids are
  // the tokens after the cache->length already decoded ones and the cache is extended.
  BartStackOutput decode(const Tensor& decoder_input_ids, const Tensor& decoder_attention_mask,
                         const Tensor& encoder_output, const Tensor& encoder_attention_mask,
                         bool keep_hidden_states = false, BartDecoderCache* cache = nullptr) const;
  // lm_head(decoder hidden states) + final_logits_bias; BartForConditionalGeneration only.
  Tensor lm_logits(const Tensor& decoder_hidden) const;

  // Hugging Face initialisation: Linear and Embedding weights normal(0, init_std), biases 0,
  // the padding row of the shared embedding 0, LayerNorms 1/0, final_logits_bias 0.
  void init_weights(Generator& gen) override;
  void set_dropout_generator(Generator* gen) override { dropout_gen_ = gen; }
  // Every encoder and decoder layer recomputed in backward (core/checkpoint.h).
  void set_gradient_checkpointing(bool on) override;

  const BartConfig& config() const { return config_; }

  // Seq2SeqLM (nn/bart_generation.cpp): inputs input_ids and attention_mask; the LM head is
  // required by decode_step.
  std::unique_ptr<DecodingState> start_decoding(const NamedTensors& inputs) const override;
  Tensor decode_step(DecodingState& state, const Tensor& tokens) const override;
  int64_t vocab_size() const override { return config_.vocab_size; }

 private:
  BartDropout dropout_settings() const;

  BartConfig config_;
  std::shared_ptr<Embedding> shared_, encoder_positions_;
  std::shared_ptr<LayerNorm> encoder_norm_;
  std::vector<std::shared_ptr<BartEncoderLayer>> encoder_layers_;
  std::shared_ptr<BartDecoder> decoder_;
  std::shared_ptr<Linear> lm_head_;
  Tensor* final_logits_bias_ = nullptr;  // buffer [1, vocab]; null without an LM head
  Generator* dropout_gen_ = nullptr;
  bool checkpointing_ = false;
};

}  // namespace kiln::nn
