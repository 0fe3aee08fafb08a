// The fused training block (nn/densenet_block_train.h) against the op-by-op path it replaces:
// one training step (forward, loss, backward) of the same seeded model on the same batch, with
// the fused block on and off, must give the same logits, every parameter gradient and every
// running statistic within float rounding (the summation orders differ). The op path's own
// gradients are checked against finite differences in f64 and against torchvision elsewhere
// (densenet_small_stem_test, densenet121_torchvision_test); the reference fixtures
// (densenet_reference_test) now run through the fused block too. Also: the fused step is
// bit-identical across thread counts, gradient checkpointing changes no bit of it, and the
// block falls back to the op path where it does not apply.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "nn/densenet_block_train.h"
#include "tests/common/reference_checks.h"
#include "tests/nn/densenet_test_util.h"

namespace kiln::nn {
namespace {

DenseNetConfig small_config() {
  DenseNetConfig c;
  c.growth_rate = 6, c.bn_size = 2, c.block_config = {3, 2}, c.num_init_features = 8;
  c.num_classes = 4;
  return c;
}

// Growth 16 (inner 32): the 3x3 convolutions' channel counts are multiples of 16, so under bf16
// autocast their Winograd products run on AMX too (kernels::winograd_f2x3_bf16_available).
DenseNetConfig wide_config() {
  DenseNetConfig c = small_config();
  c.growth_rate = 16, c.num_init_features = 16;
  return c;
}

struct Step {
  Tensor logits;
  std::vector<std::pair<std::string, Tensor>> grads, buffers;
};

// One training step from the same seeds; the model is made afresh each time.
// 37 x 29 pixels: block 1 sees 10 x 8 (one range of rows in the block's sums); 96 x 88 takes
// several ranges, chunks and groups in every per-row loop of the fused block.
Step train_step(bool fused, bool checkpointing = false, int64_t batch = 3, int64_t h = 37,
                int64_t w = 29, bool bf16 = false, const DenseNetConfig& config = small_config()) {
  Bf16AutocastGuard autocast(bf16);
  DenseNet m(config);
  randomise_densenet(m, 31);
  m.train(true);
  m.set_requires_grad(true);
  m.set_fused_block_training(fused);
  m.set_gradient_checkpointing(checkpointing);
  Generator gen(32);
  const Tensor x = Tensor::randn({batch, 3, h, w}, gen);
  Step s;
  s.logits = m.forward({{"pixel_values", x}}).at("logits");
  // A loss whose gradient differs per logit (sum of logits would give every row the same one).
  sum(mul(s.logits, s.logits)).backward();
  for (auto& [name, p] : m.named_parameters()) s.grads.emplace_back(name, p->grad().clone());
  for (auto& [name, b] : m.named_buffers()) s.buffers.emplace_back(name, b->clone());
  return s;
}

void expect_close_to_op_path(const Step& fused, const Step& ops) {
  EXPECT_LT(testing::max_diff_over_max(fused.logits, ops.logits), 2e-6);
  ASSERT_EQ(fused.grads.size(), ops.grads.size());
  // Some gradients are nearly zero by cancellation (norm0's: everything after it is normalised
  // again with batch statistics), so each tensor may also differ by 1e-6 of the largest gradient
  // anywhere in the model.
  double largest = 0;
  for (const auto& [name, g] : ops.grads)
    for (double v : g.to_vector()) largest = std::max(largest, std::abs(v));
  double worst = 0;
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    ASSERT_EQ(fused.grads[i].first, ops.grads[i].first);
    ASSERT_TRUE(fused.grads[i].second.defined()) << fused.grads[i].first;
    const auto a = fused.grads[i].second.to_vector(), b = ops.grads[i].second.to_vector();
    ASSERT_EQ(a.size(), b.size());
    double scale = 0, diff = 0;
    for (size_t j = 0; j < a.size(); ++j)
      scale = std::max(scale, std::abs(b[j])), diff = std::max(diff, std::abs(a[j] - b[j]));
    EXPECT_LE(diff, 5e-5 * scale + 1e-6 * largest) << fused.grads[i].first;
    if (scale >= 1e-3 * largest) worst = std::max(worst, diff / scale);
  }
  // Not vacuous: the block's gradients are there and not zero.
  bool nonzero = false;
  for (const auto& [name, g] : fused.grads)
    if (name.find("denseblock1.denselayer1.conv1") != std::string::npos)
      for (double v : g.to_vector()) nonzero |= v != 0;
  EXPECT_TRUE(nonzero);
  ASSERT_EQ(fused.buffers.size(), ops.buffers.size());
  for (size_t i = 0; i < fused.buffers.size(); ++i) {
    ASSERT_EQ(fused.buffers[i].first, ops.buffers[i].first);
    if (fused.buffers[i].first.find("num_batches_tracked") != std::string::npos)
      EXPECT_EQ(fused.buffers[i].second.to_vector(), ops.buffers[i].second.to_vector())
          << fused.buffers[i].first;
    else
      EXPECT_LT(testing::max_diff_over_max(fused.buffers[i].second, ops.buffers[i].second), 2e-6)
          << fused.buffers[i].first;
  }
  std::printf(
      "fused vs op path: largest gradient difference %.2e of its tensor's largest value (tensors "
      "not near zero)\n",
      worst);
}

TEST(DenseNetBlockTrain, MatchesOpPathValuesGradientsAndRunningStatistics) {
  expect_close_to_op_path(train_step(true), train_step(false));
}

TEST(DenseNetBlockTrain, OddMapsWhoseLastRowAndColumnThePoolDrops) {
  // 41 x 45 pixels: block 1 sees 11 x 12; the fused transition's pool drops row 11.
  expect_close_to_op_path(train_step(true, false, 2, 41, 45), train_step(false, false, 2, 41, 45));
  // and 45 x 41: column 11.
  expect_close_to_op_path(train_step(true, false, 2, 45, 41), train_step(false, false, 2, 45, 41));
}

TEST(DenseNetBlockTrain, MatchesOpPathOverManyRowRanges) {
  expect_close_to_op_path(train_step(true, false, 2, 96, 88), train_step(false, false, 2, 96, 88));
}

TEST(DenseNetBlockTrain, BatchOfOneImageMatchesOpPath) {
  const Step fused = train_step(true, false, 1), ops = train_step(false, false, 1);
  EXPECT_LT(testing::max_diff_over_max(fused.logits, ops.logits), 2e-6);
  for (size_t i = 0; i < fused.grads.size(); ++i)
    if (fused.grads[i].first.find("norm0") == std::string::npos)  // near zero, as above
      EXPECT_LT(testing::max_diff_over_max(fused.grads[i].second, ops.grads[i].second), 5e-5)
          << fused.grads[i].first;
}

std::vector<std::vector<double>> bits(const Step& s) {
  std::vector<std::vector<double>> out = {s.logits.to_vector()};
  for (const auto& [name, g] : s.grads) out.push_back(g.to_vector());
  for (const auto& [name, b] : s.buffers) out.push_back(b.to_vector());
  return out;
}

TEST(DenseNetBlockTrain, BitIdenticalAcrossThreadCounts) {
  const int saved = num_threads();
  for (const auto [h, w] : {std::pair<int64_t, int64_t>{37, 29}, {96, 88}}) {
    set_num_threads(1);
    const auto one = bits(train_step(true, false, 2, h, w));
    set_num_threads(2);
    EXPECT_EQ(one, bits(train_step(true, false, 2, h, w)));
    set_num_threads(3);
    EXPECT_EQ(one, bits(train_step(true, false, 2, h, w)));
  }
  set_num_threads(saved);
}

TEST(DenseNetBlockTrain, GradientCheckpointingChangesNoBit) {
  EXPECT_EQ(bits(train_step(true, false)), bits(train_step(true, true)));
  EXPECT_EQ(bits(train_step(true, false, 2, 96, 88)), bits(train_step(true, true, 2, 96, 88)));
}

// Under bf16 autocast the block's GEMMs (conv1 forward and both gradients, conv2's weight
// gradient, the transition's three; at growth 16 conv2's Winograd products too) take bf16
// operands: the step stays close to the f32 one, is not the f32 one (the bf16 path ran), and
// keeps the thread-count and checkpointing bit-identity. The block's gradients are small residues
// of batch norm's cancellations (100x smaller than the classifier's here), so the operands' 2^-9
// rounding moves them by up to 60% of a tensor's largest value at 37 x 29 (10-25% at 96 x 88);
// their direction is what rounding keeps and a wrong product does not: every gradient's cosine
// with the f32 one is >= 0.92 (37 x 29) and >= 0.977 (96 x 88), where a GEMM reading the wrong
// tap gives -0.18 to 0.44 (tried: conv2's taps mirrored; an AMX column tile dropped fails too).
TEST(DenseNetBlockTrain, Bf16AutocastStaysWithinBf16RoundingOfF32) {
  for (const auto& [config, h, w, min_cos] :
       {std::tuple<DenseNetConfig, int64_t, int64_t, double>{small_config(), 37, 29, 0.9},
        {small_config(), 96, 88, 0.95},
        {wide_config(), 37, 29, 0.9},
        {wide_config(), 96, 88, 0.95}}) {
    const Step half = train_step(true, false, 2, h, w, true, config);
    const Step full = train_step(true, false, 2, h, w, false, config);
    EXPECT_NE(bits(half), bits(full));
    EXPECT_LT(testing::max_diff_over_max(half.logits, full.logits), 1e-2);
    double largest = 0;
    for (const auto& [name, g] : full.grads)
      for (double v : g.to_vector()) largest = std::max(largest, std::abs(v));
    double lowest = 1;
    for (size_t i = 0; i < half.grads.size(); ++i) {
      const auto a = half.grads[i].second.to_vector(), b = full.grads[i].second.to_vector();
      double ab = 0, aa = 0, bb = 0, scale = 0;
      for (size_t j = 0; j < a.size(); ++j) {
        ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j];
        scale = std::max(scale, std::abs(b[j]));
      }
      if (scale < 1e-2 * largest) continue;  // norm0's, ~0 by cancellation
      const double cosine = ab / std::sqrt(aa * bb);
      EXPECT_GE(cosine, min_cos) << half.grads[i].first;
      lowest = std::min(lowest, cosine);
    }
    for (size_t i = 0; i < half.buffers.size(); ++i)
      if (half.buffers[i].first.find("num_batches_tracked") == std::string::npos)
        EXPECT_LT(testing::max_diff_over_max(half.buffers[i].second, full.buffers[i].second), 1e-2)
            << half.buffers[i].first;
    std::printf(
        "bf16 vs f32, growth %lld, %lld x %lld: logits %.2e of the largest, lowest gradient "
        "cosine %.4f\n",
        static_cast<long long>(config.growth_rate), static_cast<long long>(h),
        static_cast<long long>(w), testing::max_diff_over_max(half.logits, full.logits), lowest);
  }
  const int saved = num_threads();
  for (const DenseNetConfig& config : {small_config(), wide_config()}) {
    set_num_threads(1);
    const auto one = bits(train_step(true, false, 2, 96, 88, true, config));
    set_num_threads(2);
    EXPECT_EQ(one, bits(train_step(true, false, 2, 96, 88, true, config)));
    EXPECT_EQ(bits(train_step(true, false, 2, 37, 29, true, config)),
              bits(train_step(true, true, 2, 37, 29, true, config)));
  }
  set_num_threads(saved);
}

TEST(DenseNetBlockTrain, AppliesOnlyToFloatTrainingWithGradients) {
  DenseNetConfig c = small_config();
  DenseNet m(c);
  randomise_densenet(m, 3);
  m.train(true);
  Generator gen(4);
  const Tensor x = Tensor::randn({2, 8, 9, 9}, gen);
  EXPECT_TRUE(dense_block_train_applies(x, m.blocks[0]));
  EXPECT_FALSE(dense_block_train_applies(x.to(DType::F64), m.blocks[0]));
  EXPECT_FALSE(dense_block_train_applies(Tensor::randn({1, 8, 1, 1}, gen), m.blocks[0]));
  {
    NoGradGuard ng;
    EXPECT_FALSE(dense_block_train_applies(x, m.blocks[0]));
  }
  m.eval();
  EXPECT_FALSE(dense_block_train_applies(x, m.blocks[0]));
  m.train(true);
  c.drop_rate = 0.2;
  DenseNet dropping(c);
  dropping.train(true);
  EXPECT_FALSE(dense_block_train_applies(x, dropping.blocks[0]));
  // Called where it does not apply: an error, not a wrong answer.
  m.eval();
  EXPECT_THROW(dense_block_train(x, m.blocks[0]), Error);
}

}  // namespace
}  // namespace kiln::nn

namespace kiln::nn {
namespace {

// One block alone, its input a leaf: the input gradient and the output against the op path.
TEST(DenseNetBlockTrain, BlockOutputAndInputGradientMatchOpPath) {
  DenseNet m(small_config());
  randomise_densenet(m, 8);
  m.train(true);
  m.set_requires_grad(true);
  Generator gen(9);
  const Tensor x0 = Tensor::randn({2, 8, 7, 5}, gen), gy = Tensor::randn({2, 8 + 18, 7, 5}, gen);
  Tensor xf = x0.clone(), xo = x0.clone();
  xf.set_requires_grad(true), xo.set_requires_grad(true);
  const Tensor yf = dense_block_train(xf, m.blocks[0]);
  std::vector<Tensor> parts = {xo};
  for (const auto& layer : m.blocks[0]) parts.push_back(layer->forward(concat(parts, 1), nullptr));
  const Tensor yo = concat(parts, 1);
  EXPECT_LT(testing::max_diff_over_max(yf, yo), 2e-6);
  sum(mul(yf, gy)).backward();
  sum(mul(yo, gy)).backward();
  EXPECT_LT(testing::max_diff_over_max(xf.grad(), xo.grad()), 5e-5);
}

}  // namespace
}  // namespace kiln::nn
