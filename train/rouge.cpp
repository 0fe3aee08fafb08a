#include "train/rouge.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "core/error.h"
#include "train/rouge_tokenize.h"

namespace kiln::train {

namespace {

// Token strings as small integers, shared by both texts, so that LCS tables compare integers.
class TokenIds {
 public:
  std::vector<uint32_t> ids(const RougeTokens& tokens) {
    std::vector<uint32_t> out;
    out.reserve(tokens.size());
    for (const std::string& t : tokens)
      out.push_back(ids_.try_emplace(t, static_cast<uint32_t>(ids_.size())).first->second);
    return out;
  }
  size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
};

RougeScore from_matches(size_t matches, size_t prediction_count, size_t reference_count) {
  RougeScore s;
  s.precision = static_cast<double>(matches) / static_cast<double>(prediction_count);
  s.recall = static_cast<double>(matches) / static_cast<double>(reference_count);
  // In this order of operations, as rouge-score's scoring.fmeasure, for the same last bit.
  s.fmeasure =
      s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

// N-gram counts, each n-gram keyed by the bytes of its n token ids.
std::unordered_map<std::string, size_t> count_ngrams(const std::vector<uint32_t>& ids, size_t n) {
  std::unordered_map<std::string, size_t> counts;
  for (size_t i = 0; i + n <= ids.size(); ++i)
    ++counts[std::string(reinterpret_cast<const char*>(&ids[i]), n * sizeof(uint32_t))];
  return counts;
}

size_t lcs_length(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<size_t> previous(b.size() + 1, 0), current(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      current[j] =
          a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : std::max(previous[j], current[j - 1]);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// Marks in `in_union` the positions of `reference` on one LCS with `prediction`: the one
// rouge-score's backtrack reads out, which on a tie between skipping a reference token and
// skipping a prediction token skips the reference token. The backtrack only needs, at each
// mismatch, which of the two it skips, so one bit per cell is kept rather than the whole table
// (two long single-line texts would otherwise take gigabytes).
void mark_lcs(const std::vector<uint32_t>& reference, const std::vector<uint32_t>& prediction,
              std::vector<char>& in_union) {
  const size_t rows = reference.size(), cols = prediction.size();
  std::vector<bool> skip_prediction((rows + 1) * (cols + 1), false);
  std::vector<size_t> previous(cols + 1, 0), current(cols + 1, 0);
  for (size_t i = 1; i <= rows; ++i) {
    for (size_t j = 1; j <= cols; ++j) {
      if (reference[i - 1] == prediction[j - 1]) {
        current[j] = previous[j - 1] + 1;
      } else {
        skip_prediction[i * (cols + 1) + j] = current[j - 1] > previous[j];
        current[j] = std::max(previous[j], current[j - 1]);
      }
    }
    std::swap(previous, current);
  }
  size_t i = rows, j = cols;
  while (i > 0 && j > 0) {
    if (reference[i - 1] == prediction[j - 1]) {
      in_union[i - 1] = 1;
      --i;
      --j;
    } else if (skip_prediction[i * (cols + 1) + j]) {
      --j;
    } else {
      --i;
    }
  }
}

void add_into(RougeScore& sum, const RougeScore& s) {
  sum.precision += s.precision;
  sum.recall += s.recall;
  sum.fmeasure += s.fmeasure;
}

RougeScore divided(const RougeScore& sum, double n) {
  return {sum.precision / n, sum.recall / n, sum.fmeasure / n};
}

// rouge-score's sentences for ROUGE-Lsum: str.split("\n") without the empty strings.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find('\n', start);
    const std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty()) lines.push_back(line);
    if (end == std::string_view::npos) return lines;
    start = end + 1;
  }
}

std::vector<RougeTokens> tokenize_lines(std::string_view text, bool use_stemmer) {
  std::vector<RougeTokens> lines;
  for (std::string_view line : lines_of(text)) lines.push_back(rouge_tokenize(line, use_stemmer));
  return lines;
}

// "\n" only ever separates tokens, so the whole text's tokens are its lines' tokens in order.
RougeTokens joined(const std::vector<RougeTokens>& lines) {
  RougeTokens all;
  for (const RougeTokens& line : lines) all.insert(all.end(), line.begin(), line.end());
  return all;
}

}  // namespace

RougeScore rouge_n(const RougeTokens& prediction, const RougeTokens& reference, size_t n) {
  KILN_CHECK(n > 0, "ROUGE-N needs n >= 1");
  TokenIds ids;
  const auto reference_ngrams = count_ngrams(ids.ids(reference), n);
  const auto prediction_ngrams = count_ngrams(ids.ids(prediction), n);
  size_t overlap = 0, reference_count = 0, prediction_count = 0;
  for (const auto& [ngram, count] : reference_ngrams) {
    reference_count += count;
    if (auto it = prediction_ngrams.find(ngram); it != prediction_ngrams.end())
      overlap += std::min(count, it->second);
  }
  for (const auto& [ngram, count] : prediction_ngrams) prediction_count += count;
  return from_matches(overlap, std::max<size_t>(prediction_count, 1),
                      std::max<size_t>(reference_count, 1));
}

RougeScore rouge_l(const RougeTokens& prediction, const RougeTokens& reference) {
  if (prediction.empty() || reference.empty()) return {};
  TokenIds ids;
  const std::vector<uint32_t> p = ids.ids(prediction), r = ids.ids(reference);
  return from_matches(lcs_length(r, p), p.size(), r.size());
}

RougeScore rouge_lsum(const std::vector<RougeTokens>& prediction_lines,
                      const std::vector<RougeTokens>& reference_lines) {
  TokenIds ids;
  std::vector<std::vector<uint32_t>> reference, prediction;
  for (const RougeTokens& line : reference_lines) reference.push_back(ids.ids(line));
  for (const RougeTokens& line : prediction_lines) prediction.push_back(ids.ids(line));

  // What each text has left to match of each token.
  std::vector<size_t> reference_left(ids.size(), 0), prediction_left(ids.size(), 0);
  size_t reference_count = 0, prediction_count = 0;
  for (const auto& line : reference) {
    reference_count += line.size();
    for (uint32_t t : line) ++reference_left[t];
  }
  for (const auto& line : prediction) {
    prediction_count += line.size();
    for (uint32_t t : line) ++prediction_left[t];
  }
  if (reference_count == 0 || prediction_count == 0) return {};

  size_t hits = 0;
  for (const auto& line : reference) {
    std::vector<char> in_union(line.size(), 0);
    for (const auto& candidate : prediction) mark_lcs(line, candidate, in_union);
    for (size_t i = 0; i < line.size(); ++i) {
      const uint32_t t = line[i];
      if (!in_union[i] || reference_left[t] == 0 || prediction_left[t] == 0) continue;
      ++hits;
      --reference_left[t];
      --prediction_left[t];
    }
  }
  return from_matches(hits, prediction_count, reference_count);
}

RougeScores rouge_score(std::string_view prediction, std::string_view reference, bool use_stemmer) {
  const std::vector<RougeTokens> prediction_lines = tokenize_lines(prediction, use_stemmer);
  const std::vector<RougeTokens> reference_lines = tokenize_lines(reference, use_stemmer);
  const RougeTokens p = joined(prediction_lines), r = joined(reference_lines);
  return {rouge_n(p, r, 1), rouge_n(p, r, 2), rouge_l(p, r),
          rouge_lsum(prediction_lines, reference_lines)};
}

void RougeMean::add(const RougeScores& s) {
  add_into(sum_.rouge1, s.rouge1);
  add_into(sum_.rouge2, s.rouge2);
  add_into(sum_.rougeL, s.rougeL);
  add_into(sum_.rougeLsum, s.rougeLsum);
  ++count_;
}

RougeScores RougeMean::mean() const {
  if (count_ == 0) return {};
  const double n = static_cast<double>(count_);
  return {divided(sum_.rouge1, n), divided(sum_.rouge2, n), divided(sum_.rougeL, n),
          divided(sum_.rougeLsum, n)};
}

}  // namespace kiln::train
