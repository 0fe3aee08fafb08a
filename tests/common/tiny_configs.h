// Tiny model configs and inputs that the nn and quant tests share: a BERT sequence
// classifier, a BART and an LED encoder-decoder (Hugging Face config.json fields), small enough to
// build in milliseconds.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "nn/model.h"

namespace kiln::testing {

// BertForSequenceClassification: vocabulary 40, hidden 16, 2 layers, intermediate 32, 3 labels.
inline nlohmann::json tiny_bert_config() {
  return {{"model_type", "bert"},
          {"architectures", {"BertForSequenceClassification"}},
          {"vocab_size", 40},
          {"hidden_size", 16},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"intermediate_size", 32},
          {"max_position_embeddings", 32},
          {"id2label", {{"0", "A"}, {"1", "B"}, {"2", "C"}}}};
}

// BartForConditionalGeneration: vocabulary 40, d_model 16, 1 + 1 layers, ffn 32.
inline nlohmann::json tiny_bart_config() {
  return {{"model_type", "bart"},
          {"architectures", {"BartForConditionalGeneration"}},
          {"vocab_size", 40},
          {"d_model", 16},
          {"encoder_layers", 1},
          {"decoder_layers", 1},
          {"encoder_attention_heads", 2},
          {"decoder_attention_heads", 2},
          {"encoder_ffn_dim", 32},
          {"decoder_ffn_dim", 32},
          {"max_position_embeddings", 32},
          {"pad_token_id", 1},
          {"bos_token_id", 0},
          {"eos_token_id", 2},
          {"decoder_start_token_id", 2}};
}

// LEDForConditionalGeneration: vocabulary 12, d_model 8, 1 + 1 layers, ffn 16 / 12, window 4.
inline nlohmann::json tiny_led_config() {
  return {{"model_type", "led"},
          {"architectures", {"LEDForConditionalGeneration"}},
          {"vocab_size", 12},
          {"d_model", 8},
          {"max_encoder_position_embeddings", 32},
          {"max_decoder_position_embeddings", 16},
          {"encoder_layers", 1},
          {"decoder_layers", 1},
          {"encoder_attention_heads", 2},
          {"decoder_attention_heads", 2},
          {"encoder_ffn_dim", 16},
          {"decoder_ffn_dim", 12},
          {"attention_window", {4}},
          {"pad_token_id", 1}};
}

// Two rows of 9 token ids below `vocab` (the second padded from position 6), with
// decoder_input_ids for an encoder-decoder.
inline nn::NamedTensors tiny_text_inputs(int64_t vocab, bool seq2seq) {
  std::vector<int64_t> ids, mask;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 9; ++i) {
      ids.push_back(3 + (b * 13 + i * 7) % (vocab - 3));
      mask.push_back(b == 1 && i >= 6 ? 0 : 1);  // the second row is padded
    }
  nn::NamedTensors in = {{"input_ids", Tensor::from_ints(ids, {2, 9})},
                         {"attention_mask", Tensor::from_ints(mask, {2, 9})}};
  if (seq2seq)
    in["decoder_input_ids"] = Tensor::from_ints({2, 5, 9, 10, 4, 2, 7, 8, 3, 11}, {2, 5});
  return in;
}

}  // namespace kiln::testing
