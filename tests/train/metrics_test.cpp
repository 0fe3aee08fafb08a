#include "train/metrics.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace kiln::train {
namespace {

using Tags = std::vector<std::vector<std::string>>;

TEST(EntityScores, PerfectPrediction) {
  const Tags gold = {{"B-KEY", "I-KEY", "O", "B-KEY"}};
  const EntityScores s = entity_scores(gold, gold);
  EXPECT_EQ(s.gold_entities, 2);
  EXPECT_DOUBLE_EQ(s.precision, 1.0);
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  EXPECT_DOUBLE_EQ(s.f1, 1.0);
  EXPECT_DOUBLE_EQ(s.accuracy, 1.0);
}

TEST(EntityScores, InsideWithoutBeginOpensAnEntityAsSeqevalDoes) {
  const EntityScores s =
      entity_scores({{"O", "I-KEY", "I-KEY", "O"}}, {{"O", "B-KEY", "I-KEY", "O"}});
  EXPECT_EQ(s.gold_entities, 1);
  EXPECT_EQ(s.correct_entities, 1);
  EXPECT_DOUBLE_EQ(s.f1, 1.0);
  EXPECT_DOUBLE_EQ(s.accuracy, 0.75);  // word tags differ though the entity matches
}

TEST(EntityScores, AdjacentEntitiesAreNotOneLongEntity) {
  // Gold has two entities [0,1) and [1,3); the prediction merges them into [0,3).
  const EntityScores s =
      entity_scores({{"B-KEY", "B-KEY", "I-KEY"}}, {{"B-KEY", "I-KEY", "I-KEY"}});
  EXPECT_EQ(s.gold_entities, 2);
  EXPECT_EQ(s.predicted_entities, 1);
  EXPECT_EQ(s.correct_entities, 0);
  EXPECT_DOUBLE_EQ(s.f1, 0.0);
}

TEST(EntityScores, TypeMismatchIsWrong) {
  const EntityScores s = entity_scores({{"B-PER", "I-PER", "O"}}, {{"B-LOC", "I-LOC", "O"}});
  EXPECT_EQ(s.correct_entities, 0);
  EXPECT_DOUBLE_EQ(s.precision, 0.0);
  // An I- of another type starts a new entity: B-PER I-LOC is PER [0,1) and LOC [1,2).
  const EntityScores t =
      entity_scores({{"B-PER", "O"}, {"B-LOC"}}, {{"B-PER", "I-LOC"}, {"B-LOC"}});
  EXPECT_EQ(t.predicted_entities, 3);
  EXPECT_EQ(t.correct_entities, 2);
}

TEST(EntityScores, MicroAveragesOverSentences) {
  const Tags gold = {{"B-KEY", "I-KEY", "O", "B-KEY"}, {"O", "B-KEY"}};
  const Tags pred = {{"B-KEY", "I-KEY", "O", "O"}, {"B-KEY", "I-KEY"}};
  const EntityScores s = entity_scores(gold, pred);
  EXPECT_EQ(s.gold_entities, 3);
  EXPECT_EQ(s.predicted_entities, 2);
  EXPECT_EQ(s.correct_entities, 1);
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 1.0 / 3.0);
  EXPECT_NEAR(s.f1, 0.4, 1e-12);
  EXPECT_DOUBLE_EQ(s.accuracy, 0.5);
}

TEST(EntityScores, NoEntitiesAnywhereScoresZeroNotNaN) {
  const EntityScores s = entity_scores({{"O", "O"}}, {{"O", "O"}});
  EXPECT_EQ(s.f1, 0.0);
  EXPECT_EQ(s.accuracy, 1.0);
}

TEST(EntityScores, RejectsLengthMismatch) {
  EXPECT_THROW(entity_scores({{"O"}}, {{"O", "O"}}), Error);
}

TEST(ClassScores, MacroF1CountsAClassNeverPredicted) {
  // Class 2 is never predicted: its F1 is 0 and still counts in the macro mean (as sklearn).
  const ClassScores s = class_scores({0, 0, 1, 1, 2}, {0, 0, 1, 1, 1});
  EXPECT_DOUBLE_EQ(s.accuracy, 0.8);
  EXPECT_NEAR(s.macro_f1, (1.0 + 0.8 + 0.0) / 3.0, 1e-12);
}

TEST(ClassScores, PredictedOnlyClassCounts) {
  const ClassScores s = class_scores({0, 0}, {0, 1});
  // class 0: P 1, R 0.5, F1 2/3; class 1 (predicted, never gold): F1 0.
  EXPECT_NEAR(s.macro_f1, (2.0 / 3.0) / 2.0, 1e-12);
}

}  // namespace
}  // namespace kiln::train
