// BART's denoising pre-training noise, applied to text (Lewis et al. 2019, section 2.2 and 5.1:
// the base recipe uses text infilling and sentence permutation): sentences are shuffled, then
// spans of words with Poisson(lambda) lengths are each replaced by one mask token until
// mask_ratio of the words are covered; a zero-length span inserts a mask. The model learns to
// restore the original. Working on whitespace words rather than BPE pieces is the same objective
// at word granularity (whole-word masking); the tokenizer then encodes the mask token as its
// special id.
// Deterministic: the noise is a pure function of (seed, copy, document index), drawn from
// kiln's counter-based generator (data/example_rng.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::data {

struct TextNoiseOptions {
  double mask_ratio = 0.3;
  double poisson_lambda = 3.0;
  bool permute_sentences = true;
  std::string mask_token = "<mask>";
  uint64_t seed = 0;
};

// Sentences of a text, cut after '.', '!' or '?' (optionally followed by closing quotes or
// brackets) when whitespace follows; the whitespace is dropped, everything else is kept.
std::vector<std::string> split_sentences(const std::string& text);

// Whitespace-separated words.
std::vector<std::string> split_words(const std::string& text);

// Consecutive sentences packed into pieces of at most max_words words (a longer sentence is a
// piece of its own, cut at max_words), so long documents become several training examples.
std::vector<std::string> chunk_text(const std::string& text, int64_t max_words);

// The noisy version of `text` for copy `copy` of document `doc`.
std::string noise_text(const std::string& text, const TextNoiseOptions& options, uint64_t doc,
                       uint64_t copy);

}  // namespace kiln::data
