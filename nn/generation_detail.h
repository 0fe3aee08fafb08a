// Pieces shared by the search strategies of nn/generation.cpp and nn/beam_search.cpp.
#pragma once

#include <vector>

#include "nn/generation.h"
#include "nn/logits_processors.h"

namespace kiln::nn::detail {

// What every strategy needs about the batch it generates for.
struct GenerationSetup {
  const Seq2SeqLM& model;
  const GenerationConfig& config;
  const GenerationHooks& hooks;
  int64_t inputs = 0;  // batch size
  int64_t vocab = 0;
  int64_t max_length = 0;   // after max_new_tokens
  int64_t start_token = 0;  // decoder_start_token_id (or bos_token_id)
  int64_t pad_token = 0;
  std::vector<NgramTable> encoder_ngrams;  // per input; empty without encoder_no_repeat_ngram_size
  const NgramTable* ngrams_of(int64_t input) const {
    return encoder_ngrams.empty() ? nullptr : &encoder_ngrams[static_cast<size_t>(input)];
  }
};

std::vector<std::vector<GeneratedSequence>> beam_search(const GenerationSetup& setup,
                                                        DecodingState& state);

// The logits of decode_step as one contiguous float32 block [rows, vocab].
std::vector<float> step_logits(const GenerationSetup& setup, DecodingState& state,
                               const std::vector<int64_t>& last_tokens);

}  // namespace kiln::nn::detail
