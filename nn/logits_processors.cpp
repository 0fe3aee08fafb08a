#include "nn/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::nn {

namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Does `sequence` end with `tail`?
bool ends_with(const std::vector<int64_t>& sequence, const int64_t* tail, size_t n) {
  if (n > sequence.size()) return false;
  return std::equal(tail, tail + n, sequence.end() - static_cast<std::ptrdiff_t>(n));
}

void ban(float* scores, int64_t vocab, int64_t token) {
  if (token >= 0 && token < vocab) scores[token] = kMinusInf;
}

// Only `token` stays possible, with score 0 (ForcedBOS/ForcedEOS processors).
void force(float* scores, int64_t vocab, int64_t token) {
  std::fill(scores, scores + vocab, kMinusInf);
  scores[token] = 0.0f;
}

// NoRepeatNGramLogitsProcessor: a token that would complete an n-gram already in the sequence.
void ban_repeated_ngrams(float* scores, int64_t vocab, const std::vector<int64_t>& seq, int64_t n) {
  const int64_t len = static_cast<int64_t>(seq.size());
  if (len + 1 < n) return;
  const int64_t* last = seq.data() + len - (n - 1);  // the n-1 tokens the next one would follow
  for (int64_t i = 0; i + n <= len; ++i)
    if (std::equal(last, last + n - 1, seq.data() + i)) ban(scores, vocab, seq[i + n - 1]);
}

}  // namespace

NgramTable ngram_table(const std::vector<int64_t>& tokens, int64_t n) {
  NgramTable table;
  const int64_t len = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i + n <= len; ++i)
    table[std::vector<int64_t>(tokens.begin() + i, tokens.begin() + i + n - 1)].push_back(
        tokens[i + n - 1]);
  return table;
}

LogitsProcessors::LogitsProcessors(const GenerationConfig& c)
    : c_(c), max_length_(c.effective_max_length()), min_length_(c.effective_min_length()) {}

void LogitsProcessors::process(float* scores, int64_t vocab, const std::vector<int64_t>& seq,
                               const NgramTable* encoder_ngrams) const {
  const int64_t cur_len = static_cast<int64_t>(seq.size());
  if (c_.repetition_penalty != 1.0) {
    // Every id already in the sequence, start and forced tokens included; a repeated id is
    // penalised once (torch's gather/scatter reads the unpenalised score).
    const float penalty = static_cast<float>(c_.repetition_penalty);
    std::vector<int64_t> ids(seq);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab) continue;
      float& s = scores[id];
      s = s < 0 ? s * penalty : s / penalty;
    }
  }
  if (c_.no_repeat_ngram_size > 0) ban_repeated_ngrams(scores, vocab, seq, c_.no_repeat_ngram_size);
  if (c_.encoder_no_repeat_ngram_size > 0 && encoder_ngrams &&
      cur_len + 1 >= c_.encoder_no_repeat_ngram_size) {
    const int64_t n = c_.encoder_no_repeat_ngram_size;
    const std::vector<int64_t> last(seq.end() - (n - 1), seq.end());
    const auto it = encoder_ngrams->find(last);
    if (it != encoder_ngrams->end())
      for (int64_t t : it->second) ban(scores, vocab, t);
  }
  for (const auto& word : c_.bad_words_ids) {
    // transformers drops a bad word that is exactly an eos id, so that generation can end.
    if (word.size() == 1 && c_.is_eos(word[0])) continue;
    if (ends_with(seq, word.data(), word.size() - 1)) ban(scores, vocab, word.back());
  }
  if (cur_len < min_length_)
    for (int64_t eos : c_.eos_token_ids) ban(scores, vocab, eos);
  if (c_.forced_bos_token_id >= 0 && cur_len == 1) force(scores, vocab, c_.forced_bos_token_id);
  if (c_.forced_eos_token_id >= 0 && cur_len == max_length_ - 1)
    force(scores, vocab, c_.forced_eos_token_id);
}

void LogitsProcessors::warp(float* scores, int64_t vocab) const {
  if (c_.temperature != 1.0) {
    const float t = static_cast<float>(c_.temperature);
    for (int64_t v = 0; v < vocab; ++v) scores[v] /= t;
  }
  if (c_.top_k > 0 && c_.top_k < vocab) {
    // Keep every score >= the k-th largest (ties at the threshold survive, as in transformers).
    std::vector<float> sorted(scores, scores + vocab);
    std::nth_element(sorted.begin(), sorted.begin() + (c_.top_k - 1), sorted.end(),
                     std::greater<float>());
    const float threshold = sorted[static_cast<size_t>(c_.top_k - 1)];
    for (int64_t v = 0; v < vocab; ++v)
      if (scores[v] < threshold) scores[v] = kMinusInf;
  }
  if (c_.top_p < 1.0) {
    // Ascending sort; drop the low tokens whose cumulative probability is <= 1 - top_p, always
    // keeping the most likely one.
    std::vector<int64_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
    const float top = scores[order.back()];
    double total = 0;
    for (int64_t v = 0; v < vocab; ++v) total += std::exp(static_cast<double>(scores[v] - top));
    double cumulative = 0;
    for (int64_t i = 0; i + 1 < vocab; ++i) {
      const int64_t v = order[static_cast<size_t>(i)];
      cumulative += std::exp(static_cast<double>(scores[v] - top)) / total;
      if (cumulative > 1.0 - c_.top_p) break;
      scores[v] = kMinusInf;
    }
  }
}

void log_softmax_row(float* scores, int64_t vocab) {
  float max = kMinusInf;
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, scores[v]);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(scores[v] - max));
  const float log_sum = static_cast<float>(std::log(sum));
  for (int64_t v = 0; v < vocab; ++v) scores[v] = scores[v] - max - log_sum;
}

}  // namespace kiln::nn
