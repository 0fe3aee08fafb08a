// LED (Hugging Face transformers 4.30 LEDModel / LEDForConditionalGeneration, the architecture of
// PRIMERA): BART's decoder over an encoder whose self-attention is Longformer's (a sliding window
// of attention_window / 2 tokens on each side, plus global attention for the tokens that
// global_attention_mask marks), so that inputs of thousands of tokens cost O(length x window).
// Unlike BART the learned positions have no offset, the encoder and decoder have their own
// maximum lengths, and token embeddings are never scaled. Parameter names are the Hugging Face
// state-dict keys ("led." under LEDForConditionalGeneration).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/bart.h"
#include "nn/bart_decoder.h"
#include "nn/led_attention.h"
#include "nn/seq2seq.h"

namespace kiln::nn {

struct LedConfig {
  // The fields LED shares with BART (vocabulary, widths, depths, heads, activation, dropouts,
  // token ids, lm_head / tie_word_embeddings). bart.max_position_embeddings is unused and
  // bart.scale_embedding is always false (LED has neither).
  BartConfig bart;
  std::string architecture;  // LEDForConditionalGeneration, LEDModel or "" (= LEDModel)
  int64_t max_encoder_positions = 0, max_decoder_positions = 0;
  // Window of each encoder layer (even, > 0): each token sees window / 2 tokens on each side.
  std::vector<int64_t> attention_window;

  // Inputs are padded internally to a multiple of this (the largest window), as transformers does.
  int64_t padding_multiple() const;
  // Reads Hugging Face config.json fields; errors name `origin` and the missing/invalid field.
  static LedConfig from_json(const nlohmann::json& j, const std::string& origin);
};

class LedModel : public Model, public Seq2SeqLM {
 public:
  explicit LedModel(const LedConfig& config);
  ~LedModel() override;

  // Inputs: input_ids, attention_mask (default all ones), global_attention_mask (default: no
  // global token), decoder_input_ids (default shift_tokens_right(input_ids)),
  // decoder_attention_mask (default: causal only). Outputs as BartModel's: logits
  // (LEDForConditionalGeneration), last_hidden_state (the decoder's), encoder_last_hidden_state,
  // and with options.hidden_states encoder_hidden_states.N and decoder_hidden_states.N, all cut
  // back to the input's length.
  NamedTensors forward(const NamedTensors& inputs,
                       const ForwardOptions& options = {}) const override;

  // input_ids [B, L] integer; attention_mask and global_attention_mask [B, L] of 0/1 or undefined.
  BartStackOutput encode(const Tensor& input_ids, const Tensor& attention_mask,
                         const Tensor& global_attention_mask,
                         bool keep_hidden_states = false) const;
  // As BartModel::decode: with a cache, the ids are the tokens after the cache->length already
  // decoded ones and the cache is extended.
  BartStackOutput decode(const Tensor& decoder_input_ids, const Tensor& decoder_attention_mask,
                         const Tensor& encoder_output, const Tensor& encoder_attention_mask,
                         bool keep_hidden_states = false, BartDecoderCache* cache = nullptr) const;
  // lm_head(decoder hidden states) + final_logits_bias; LEDForConditionalGeneration only.
  Tensor lm_logits(const Tensor& decoder_hidden) const;

  // Seq2SeqLM (nn/led_generation.cpp): inputs input_ids, attention_mask and
  // global_attention_mask (PRIMERA marks <s> and every <doc-sep>; without it no token is global).
  std::unique_ptr<DecodingState> start_decoding(const NamedTensors& inputs) const override;
  Tensor decode_step(DecodingState& state, const Tensor& tokens) const override;
  int64_t vocab_size() const override { return config_.bart.vocab_size; }

  // Hugging Face initialisation, as BART's: Linear and Embedding weights normal(0, init_std),
  // biases 0, the padding row of the shared embedding 0, LayerNorms 1/0, final_logits_bias 0.
  void init_weights(Generator& gen) override;
  void set_dropout_generator(Generator* gen) override { dropout_gen_ = gen; }
  // Every encoder and decoder layer recomputed in backward (core/checkpoint.h).
  void set_gradient_checkpointing(bool on) override;

  const LedConfig& config() const { return config_; }
  const std::vector<std::shared_ptr<LedEncoderLayer>>& encoder_layers() const {
    return encoder_layers_;
  }

 private:
  BartDropout dropout_settings() const;

  LedConfig config_;
  std::shared_ptr<Embedding> shared_, encoder_positions_;
  std::shared_ptr<LayerNorm> encoder_norm_;
  std::vector<std::shared_ptr<LedEncoderLayer>> encoder_layers_;
  std::shared_ptr<BartDecoder> decoder_;
  std::shared_ptr<Linear> lm_head_;
  Tensor* final_logits_bias_ = nullptr;  // buffer [1, vocab]; null without an LM head
  Generator* dropout_gen_ = nullptr;
  bool checkpointing_ = false;
};

}  // namespace kiln::nn
