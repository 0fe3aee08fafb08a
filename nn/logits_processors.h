// transformers 4.30.2's logits processors and warpers, applied to one row of next-token scores at
// a time, in generate()'s order: repetition penalty, no-repeat n-grams, encoder no-repeat
// n-grams, bad words, min length (and min new tokens), forced BOS, forced EOS; then, for sampling,
// temperature, top-k and top-p. Banned entries become -inf.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "nn/generation_config.h"

namespace kiln::nn {

// The n-grams of one encoder input, for encoder_no_repeat_ngram_size: each (n-1)-token prefix
// with the tokens that follow it there.
using NgramTable = std::map<std::vector<int64_t>, std::vector<int64_t>>;
NgramTable ngram_table(const std::vector<int64_t>& tokens, int64_t n);

class LogitsProcessors {
 public:
  explicit LogitsProcessors(const GenerationConfig& config);
  // `scores` [vocab] of one row whose decoder tokens so far (start token included) are
  // `sequence`; `encoder_ngrams` is its input's table (null without
  // encoder_no_repeat_ngram_size).
  void process(float* scores, int64_t vocab, const std::vector<int64_t>& sequence,
               const NgramTable* encoder_ngrams) const;
  // Sampling only: temperature, top-k, top-p (transformers' warpers, min_tokens_to_keep 1).
  void warp(float* scores, int64_t vocab) const;

 private:
  const GenerationConfig& c_;
  int64_t max_length_, min_length_;
};

// log_softmax of one row in float32, as torch computes it (x - max - log(sum(exp(x - max)))).
void log_softmax_row(float* scores, int64_t vocab);

}  // namespace kiln::nn
