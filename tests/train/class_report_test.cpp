// The per-class report behind `kiln eval` and training's per-epoch evaluation, on cases computed
// by hand (the same numbers sklearn's confusion_matrix / classification_report and seqeval's
// classification_report give).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace kiln::train {
namespace {

TEST(ClassReport, ConfusionMatrixAndPerClassScores) {
  // gold:      0 0 0 1 1 2
  // predicted: 0 1 0 1 2 2
  const ClassReport r = class_report({0, 0, 0, 1, 1, 2}, {0, 1, 0, 1, 2, 2}, 4);
  const std::vector<std::vector<int64_t>> want = {
      {2, 1, 0, 0}, {0, 1, 1, 0}, {0, 0, 1, 0}, {0, 0, 0, 0}};
  EXPECT_EQ(r.confusion, want);
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6.0);
  // Class 0: P 2/2, R 2/3; class 1: P 1/2, R 1/2; class 2: P 1/2, R 1/1; class 3 absent.
  EXPECT_DOUBLE_EQ(r.per_class[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(r.per_class[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.per_class[0].f1, 0.8);
  EXPECT_EQ(r.per_class[0].support, 3);
  EXPECT_DOUBLE_EQ(r.per_class[1].f1, 0.5);
  EXPECT_DOUBLE_EQ(r.per_class[2].f1, 2.0 / 3.0);
  EXPECT_EQ(r.per_class[3].support, 0);
  EXPECT_EQ(r.per_class[3].f1, 0.0);
  // Macro-F1 over the classes present (as class_scores and sklearn with labels=None).
  EXPECT_DOUBLE_EQ(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.macro_f1, class_scores({0, 0, 0, 1, 1, 2}, {0, 1, 0, 1, 2, 2}).macro_f1);
}

TEST(ClassReport, NoPredictionIsWrongAndInNoColumn) {
  const ClassReport r = class_report({0, 1}, {-1, 1}, 2);
  EXPECT_EQ(r.confusion, (std::vector<std::vector<int64_t>>{{0, 0}, {0, 1}}));
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  EXPECT_EQ(r.per_class[0].support, 1);
  EXPECT_EQ(r.per_class[0].recall, 0.0);
}

TEST(ClassReport, OutOfRangeIdsAndLengthsAreErrors) {
  EXPECT_THROW(class_report({0, 2}, {0, 0}, 2), Error);
  EXPECT_THROW(class_report({0}, {5}, 2), Error);
  EXPECT_THROW(class_report({0, 1}, {0}, 2), Error);
}

TEST(ClassReport, JsonNamesClassesByLabel) {
  const ClassReport r = class_report({0, 1, 1}, {0, 0, 1}, 2);
  const auto j = class_report_json(r, {"neg", "pos"});
  EXPECT_EQ(j["labels"], nlohmann::json::parse(R"(["neg", "pos"])"));
  EXPECT_EQ(j["confusion_matrix"], nlohmann::json::parse("[[1, 0], [1, 1]]"));
  EXPECT_DOUBLE_EQ(j["per_class"]["neg"]["precision"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["per_class"]["pos"]["recall"].get<double>(), 0.5);
  EXPECT_EQ(j["per_class"]["pos"]["support"], 2);
  EXPECT_THROW(class_report_json(r, {"only one"}), Error);
}

TEST(EntityScores, PerTypeScoresAsSeqevalReportsThem) {
  // gold: PER [0,1), LOC [2,4); predicted: PER [0,1), LOC [2,3), LOC [3,4)
  const EntityScores s =
      entity_scores({{"B-PER", "O", "B-LOC", "I-LOC"}}, {{"B-PER", "O", "B-LOC", "B-LOC"}});
  ASSERT_EQ(s.per_type.size(), 2u);
  EXPECT_DOUBLE_EQ(s.per_type.at("PER").f1, 1.0);
  EXPECT_EQ(s.per_type.at("LOC").support, 1);
  EXPECT_EQ(s.per_type.at("LOC").predicted, 2);
  EXPECT_EQ(s.per_type.at("LOC").correct, 0);
  EXPECT_EQ(s.per_type.at("LOC").f1, 0.0);
  EXPECT_DOUBLE_EQ(s.precision, 1.0 / 3.0);
}

TEST(LossMean, MeanCrossEntropyOverScoredTargetsOnly) {
  LossMean loss;
  // Two rows of logits (0, ln 3): p = (1/4, 3/4); the second target is not scored.
  const double l3 = std::log(3.0);
  loss.add(Tensor::from_vector({0.0, l3, 0.0, l3}, {2, 2}), {1, kIgnoreLabel});
  loss.add(Tensor::from_vector({0.0, l3}, {1, 2}), {0});
  EXPECT_EQ(loss.count(), 2);
  EXPECT_NEAR(loss.mean(), (-std::log(0.75) - std::log(0.25)) / 2, 1e-6);
}

}  // namespace
}  // namespace kiln::train
