// ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum exactly as Google's rouge-score 0.1.2 computes them
// (RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer).score(reference,
// prediction)), the package behind Hugging Face evaluate's "rouge" metric, so that kiln's numbers
// can be put beside published ones. Tokens: train/rouge_tokenize.h.
//
// Every score is {precision, recall, fmeasure}: precision divides the matches by the prediction's
// length, recall by the reference's, and fmeasure = 2PR / (P + R), or 0 when P + R = 0. An empty
// side gives zeros, never NaN.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::train {

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

struct RougeScores {
  RougeScore rouge1, rouge2, rougeL, rougeLsum;
};

using RougeTokens = std::vector<std::string>;

// All four scores of one pair of texts.
RougeScores rouge_score(std::string_view prediction, std::string_view reference, bool use_stemmer);

// ROUGE-N: n-gram matches clipped by count, sum over the reference's n-grams of
// min(count in reference, count in prediction).
RougeScore rouge_n(const RougeTokens& prediction, const RougeTokens& reference, size_t n);

// ROUGE-L: the longest common subsequence of the two token lists.
RougeScore rouge_l(const RougeTokens& prediction, const RougeTokens& reference);

// ROUGE-Lsum, summary-level LCS over lines (rouge-score splits texts on "\n" only and drops empty
// lines). For each reference line, the union of one LCS with each prediction line, each LCS read
// out by rouge-score's backtrack, whose tie-breaking changes the union and so the score; each
// union token is a hit while both texts still have an unmatched occurrence of it (ROUGE-1.5.5's
// guard against counting a token twice).
RougeScore rouge_lsum(const std::vector<RougeTokens>& prediction_lines,
                      const std::vector<RougeTokens>& reference_lines);

// The plain mean over pairs of every precision, recall and fmeasure (not rouge-score's bootstrap
// median, which is a random estimate of it).
class RougeMean {
 public:
  void add(const RougeScores& scores);
  size_t count() const { return count_; }
  RougeScores mean() const;  // zeros when nothing was added

 private:
  RougeScores sum_;
  size_t count_ = 0;
};

}  // namespace kiln::train
