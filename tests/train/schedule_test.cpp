#include "train/schedule.h"

#include <gtest/gtest.h>

#include "core/error.h"

#include <cmath>

namespace kiln::train {
namespace {

TEST(Schedule, LinearWarmupThenDecayToZero) {
  const Schedule s{ScheduleKind::Linear, 10, 2};
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(6), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(9), 0.125);
  EXPECT_DOUBLE_EQ(s.factor(10), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(12), 0.0);  // never negative
}

TEST(Schedule, CosineDecay) {
  const Schedule s{ScheduleKind::Cosine, 10, 2};
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_NEAR(s.factor(4), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-12);
  EXPECT_NEAR(s.factor(6), 0.5, 1e-12);
  EXPECT_NEAR(s.factor(10), 0.0, 1e-12);
}

TEST(Schedule, NoWarmupStartsAtFullRate) {
  const Schedule s{ScheduleKind::Linear, 4, 0};
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.75);
}

TEST(Schedule, WarmupRatioRoundsUpAsHuggingFace) {
  EXPECT_EQ(warmup_from_ratio(0.1, 25), 3);
  EXPECT_EQ(warmup_from_ratio(0.0, 25), 0);
  EXPECT_THROW(warmup_from_ratio(1.5, 25), Error);
}

TEST(Schedule, ParsesNames) {
  EXPECT_EQ(parse_schedule("cosine"), ScheduleKind::Cosine);
  EXPECT_THROW(parse_schedule("constant"), Error);
}

}  // namespace
}  // namespace kiln::train
