#include <gtest/gtest.h>

#include "train/text_classification_task.h"
#include "train/trainer.h"

namespace kiln::train {
namespace {

TEST(ClassWeights, AutoIsInverseFrequencyNormalisedOverSeenClasses) {
  // Scored targets: class 0 x6, class 1 x2, class 2 never (ignored tokens do not count).
  LabelledTextData data;
  data.examples.resize(2);
  data.examples[0].labels = {kIgnoreLabel, 0, 0, 0, 1, kIgnoreLabel};
  data.examples[1].labels = {0, 0, 0, 1};
  const auto w = auto_class_weights(task_by_name("token-classification").target_counts(data, 3));
  ASSERT_EQ(w.size(), 3u);
  EXPECT_DOUBLE_EQ(w[0], 8.0 / (2 * 6));
  EXPECT_DOUBLE_EQ(w[1], 8.0 / (2 * 2));
  EXPECT_DOUBLE_EQ(w[2], 1.0);
  // Weighted by frequency, every seen class contributes the same total weight.
  EXPECT_DOUBLE_EQ(6 * w[0], 2 * w[1]);
}

}  // namespace
}  // namespace kiln::train
