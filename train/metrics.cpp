#include "train/metrics.h"

#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "train/iob.h"

namespace kiln::train {
namespace {

double safe_div(double a, double b) {
  return b > 0 ? a / b : 0.0;
}
double f1_of(double p, double r) {
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

// Fills precision, recall and F1 from the counts (0/0 is scored 0, as sklearn's zero_division).
void finish(Score& s) {
  s.precision = safe_div(static_cast<double>(s.correct), static_cast<double>(s.predicted));
  s.recall = safe_div(static_cast<double>(s.correct), static_cast<double>(s.support));
  s.f1 = f1_of(s.precision, s.recall);
}

}  // namespace

EntityScores entity_scores(const std::vector<std::vector<std::string>>& gold,
                           const std::vector<std::vector<std::string>>& predicted) {
  KILN_CHECK(gold.size() == predicted.size(), "entity_scores: ", gold.size(), " gold vs ",
             predicted.size(), " predicted sentences");
  EntityScores s;
  int64_t words = 0, right_words = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    KILN_CHECK(gold[i].size() == predicted[i].size(), "entity_scores: sentence ", i, " has ",
               gold[i].size(), " gold vs ", predicted[i].size(), " predicted tags");
    for (size_t w = 0; w < gold[i].size(); ++w) right_words += gold[i][w] == predicted[i][w];
    words += static_cast<int64_t>(gold[i].size());
    using Key = std::tuple<std::string, size_t, size_t>;
    std::set<Key> g;
    for (const auto& sp : train::iob2_spans(gold[i]))
      g.insert({sp.type, sp.first_word, sp.end_word});
    for (const auto& [type, first, end] : g) ++s.per_type[type].support;
    const auto pred = train::iob2_spans(predicted[i]);
    s.gold_entities += static_cast<int64_t>(g.size());
    s.predicted_entities += static_cast<int64_t>(pred.size());
    for (const auto& sp : pred) {
      const int64_t hit = static_cast<int64_t>(g.count({sp.type, sp.first_word, sp.end_word}));
      s.correct_entities += hit;
      Score& t = s.per_type[sp.type];
      ++t.predicted;
      t.correct += hit;
    }
  }
  for (auto& [type, t] : s.per_type) finish(t);
  s.precision = safe_div(static_cast<double>(s.correct_entities), s.predicted_entities);
  s.recall = safe_div(static_cast<double>(s.correct_entities), s.gold_entities);
  s.f1 = f1_of(s.precision, s.recall);
  s.accuracy = safe_div(static_cast<double>(right_words), words);
  return s;
}

ClassScores class_scores(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted) {
  KILN_CHECK(gold.size() == predicted.size(), "class_scores: ", gold.size(), " gold vs ",
             predicted.size(), " predicted labels");
  struct Counts {
    int64_t tp = 0, fp = 0, fn = 0;
  };
  std::map<int64_t, Counts> per_class;
  int64_t right = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] == predicted[i]) {
      ++right;
      ++per_class[gold[i]].tp;
    } else {
      ++per_class[gold[i]].fn;
      ++per_class[predicted[i]].fp;
    }
  }
  ClassScores s;
  s.accuracy = safe_div(static_cast<double>(right), static_cast<double>(gold.size()));
  double f1_sum = 0;
  for (const auto& [c, n] : per_class)
    f1_sum += f1_of(safe_div(n.tp, n.tp + n.fp), safe_div(n.tp, n.tp + n.fn));
  s.macro_f1 = safe_div(f1_sum, static_cast<double>(per_class.size()));
  return s;
}

ClassReport class_report(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
                         int64_t num_labels) {
  KILN_CHECK(gold.size() == predicted.size(), "class_report: ", gold.size(), " gold vs ",
             predicted.size(), " predicted labels");
  KILN_CHECK(num_labels >= 0, "class_report: negative label count");
  const auto n = static_cast<size_t>(num_labels);
  ClassReport r;
  r.confusion.assign(n, std::vector<int64_t>(n, 0));
  r.per_class.assign(n, Score{});
  int64_t right = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    const int64_t g = gold[i], p = predicted[i];
    KILN_CHECK(g >= 0 && g < num_labels, "class_report: gold label ", g, " outside 0..",
               num_labels - 1);
    KILN_CHECK(p >= -1 && p < num_labels, "class_report: predicted label ", p, " outside -1..",
               num_labels - 1);
    ++r.per_class[g].support;
    if (p < 0) continue;
    ++r.confusion[g][p];
    ++r.per_class[p].predicted;
    if (g == p) {
      ++r.per_class[g].correct;
      ++right;
    }
  }
  double f1_sum = 0;
  int64_t present = 0;
  for (Score& c : r.per_class) {
    finish(c);
    if (c.support > 0 || c.predicted > 0) {
      f1_sum += c.f1;
      ++present;
    }
  }
  r.accuracy = safe_div(static_cast<double>(right), static_cast<double>(gold.size()));
  r.macro_f1 = safe_div(f1_sum, static_cast<double>(present));
  return r;
}

}  // namespace kiln::train
