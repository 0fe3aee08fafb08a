// DenseNet's training forward computes each block feature's batch statistics once and hands the
// concatenation to every later norm1 and to the transition's norm (batch_norm_relu_known), where
// the layer path would recompute the statistics of the whole concatenation per layer. A channel's
// statistics depend on its own values only, so this must change no bit: the logits, every
// parameter gradient and every running statistic after a training step, with and without the
// reuse, on a model with a transition and dropout off, at batch 3 and odd sizes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/densenet.h"
#include "tests/nn/densenet_test_util.h"

namespace kiln::nn {
namespace {

std::vector<std::vector<double>> step_bits(bool reuse) {
  DenseNetConfig c;
  c.growth_rate = 6, c.bn_size = 2, c.block_config = {3, 2}, c.num_init_features = 8;
  c.num_classes = 4;
  DenseNet m(c);
  randomise_densenet(m, 31);
  m.train(true);
  m.set_requires_grad(true);
  m.set_reuse_batch_statistics(reuse);
  m.set_fused_block_training(false);  // the op path is the one that reuses statistics
  Generator gen(32);
  const Tensor x = Tensor::randn({3, 3, 37, 29}, gen);
  const Tensor logits = m.forward({{"pixel_values", x}}).at("logits");
  sum(mul(logits, logits)).backward();
  std::vector<std::vector<double>> out = {logits.to_vector()};
  for (auto& [name, p] : m.named_parameters()) out.push_back(p->grad().to_vector());
  for (auto& [name, b] : m.named_buffers()) out.push_back(b->to_vector());
  return out;
}

TEST(DenseNetBatchStatistics, ReusedStatisticsChangeNoBit) {
  const auto with = step_bits(true), without = step_bits(false);
  ASSERT_EQ(with.size(), without.size());
  for (size_t i = 0; i < with.size(); ++i) EXPECT_EQ(with[i], without[i]) << "tensor " << i;
}

TEST(DenseNetBatchStatistics, ConcatenatedPartsGiveTheWholesStatistics) {
  Generator gen(5);
  const Tensor a = Tensor::randn({4, 3, 5, 7}, gen), b = Tensor::randn({4, 2, 5, 7}, gen);
  const BatchStatistics whole = batch_statistics(concat({a, b}, 1));
  const BatchStatistics parts = concat_statistics({batch_statistics(a), batch_statistics(b)});
  EXPECT_EQ(whole.mean.to_vector(), parts.mean.to_vector());
  EXPECT_EQ(whole.var.to_vector(), parts.var.to_vector());
}

TEST(DenseNetBatchStatistics, KnownStatisticsAreCheckedAndTrainingOnly) {
  Generator gen(6);
  const Tensor x = Tensor::randn({2, 3, 4, 4}, gen);
  const BatchStatistics wrong = batch_statistics(Tensor::randn({2, 4, 4, 4}, gen));
  EXPECT_THROW(batch_norm_relu_known(x, Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5, wrong),
               Error);
}

}  // namespace
}  // namespace kiln::nn
