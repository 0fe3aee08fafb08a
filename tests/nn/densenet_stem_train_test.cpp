// The fused training stem (nn/densenet_stem_train.h) against the ops it replaces, conv2d ->
// batch_norm (training) -> relu -> max_pool2d(3, 2, 1): the same output, conv0's and norm0's
// gradients and running statistics within float rounding, on odd map sizes (windows cut by the
// border on either side) and on maps large enough for several bands, groups and sum ranges;
// results are bit-identical across thread counts; and the op applies only where it should. (Ties
// inside a window are checked on the kernels, tests/core/maxpool3s2_rows_test: in a whole stem
// exact ties come from identical receptive fields, so where the gradient goes among them cannot
// change conv0's weight gradient.) The ops
// themselves are checked against f64 references and finite differences in tests/core, and the
// whole model's step, stem included, against the op path in densenet_block_train_test.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "nn/densenet_stem_train.h"
#include "nn/image_layers.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

struct Stem {
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> norm;
};

Stem make_stem(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad, uint64_t seed) {
  Conv2dOptions o;
  o.stride = {stride, stride}, o.padding = {pad, pad};
  Stem s{std::make_shared<Conv2d>(cin, cout, k, o, false), std::make_shared<BatchNorm2d>(cout)};
  Generator gen(seed);
  s.conv->init_kaiming_normal(gen);
  NoGradGuard ng;
  copy_(s.norm->weight, add(mul(Tensor::rand({cout}, gen), 1.5), -0.25));  // a few negative
  copy_(s.norm->bias, mul(Tensor::randn({cout}, gen), 0.5));
  copy_(s.norm->running_mean, mul(Tensor::randn({cout}, gen), 0.3));
  copy_(s.norm->running_var, add(Tensor::rand({cout}, gen), 0.5));
  s.conv->weight.set_requires_grad(true);
  s.norm->weight.set_requires_grad(true);
  s.norm->bias.set_requires_grad(true);
  s.conv->train(true), s.norm->train(true);
  return s;
}

struct Result {
  Tensor out, dw, dgamma, dbeta, running_mean, running_var, tracked;
};

Result run(const Tensor& x, bool fused, uint64_t seed = 5, int64_t k = 7, int64_t stride = 2,
           int64_t pad = 3) {
  Stem s = make_stem(x.size(1), 16, k, stride, pad, seed);
  Tensor out;
  if (fused) {
    EXPECT_TRUE(densenet_stem_train_applies(x, *s.conv, *s.norm));
    out = densenet_stem_train(x, *s.conv, *s.norm);
  } else {
    Pool2dOptions p;
    p.kernel = {3, 3}, p.stride = {2, 2}, p.padding = {1, 1};
    out = max_pool2d(relu(s.norm->forward(s.conv->forward(x))), p);
  }
  // A loss whose gradient differs per value and channel.
  Generator gen(99);
  const Tensor r = Tensor::randn(out.shape(), gen);
  sum(mul(out, r)).backward();
  return {out.detach(),
          s.conv->weight.grad().clone(),
          s.norm->weight.grad().clone(),
          s.norm->bias.grad().clone(),
          s.norm->running_mean.clone(),
          s.norm->running_var.clone(),
          s.norm->num_batches_tracked.clone()};
}

void expect_close(const Result& a, const Result& b) {
  EXPECT_LT(testing::max_diff_over_max(a.out, b.out), 1e-6);
  EXPECT_LT(testing::max_diff_over_max(a.dw, b.dw), 2e-5);
  EXPECT_LT(testing::max_diff_over_max(a.dgamma, b.dgamma), 2e-5);
  EXPECT_LT(testing::max_diff_over_max(a.dbeta, b.dbeta), 2e-5);
  EXPECT_LT(testing::max_diff_over_max(a.running_mean, b.running_mean), 1e-6);
  EXPECT_LT(testing::max_diff_over_max(a.running_var, b.running_var), 1e-6);
  EXPECT_EQ(a.tracked.to_vector(), b.tracked.to_vector());
  // Not vacuous: gradients reach every parameter.
  double dw_max = 0;
  for (double v : a.dw.to_vector()) dw_max = std::max(dw_max, std::abs(v));
  EXPECT_GT(dw_max, 1e-3);
}

TEST(DenseNetStemTrain, MatchesTheOpsOnOddMaps) {
  Generator gen(1);
  // 37 x 29: conv 19 x 15, pooled 10 x 8 (the last window of each axis cut by the border).
  const Tensor x = Tensor::randn({3, 3, 37, 29}, gen);
  expect_close(run(x, true), run(x, false));
  // 30 x 32: conv 15 x 16, the even width's last window whole.
  const Tensor y = Tensor::randn({2, 3, 30, 32}, gen);
  expect_close(run(y, true), run(y, false));
}

TEST(DenseNetStemTrain, MatchesTheOpsOverManyBandsGroupsAndRanges) {
  Generator gen(2);
  const Tensor x = Tensor::randn({3, 3, 96, 90}, gen);  // conv 48 x 45: 36 bands over 8 groups
  expect_close(run(x, true), run(x, false));
}

TEST(DenseNetStemTrain, OtherKernelsStridesAndPadding) {
  Generator gen(3);
  const Tensor x = Tensor::randn({2, 4, 23, 26}, gen);
  expect_close(run(x, true, 7, 3, 1, 1), run(x, false, 7, 3, 1, 1));
  expect_close(run(x, true, 8, 5, 3, 0), run(x, false, 8, 5, 3, 0));
}

TEST(DenseNetStemTrain, BitIdenticalAcrossThreadCounts) {
  Generator gen(6);
  const Tensor x = Tensor::randn({3, 3, 64, 58}, gen);
  set_num_threads(1);
  const Result one = run(x, true);
  set_num_threads(3);
  const Result three = run(x, true);
  set_num_threads(2);
  const Result two = run(x, true);
  for (const Result* r : {&three, &two}) {
    EXPECT_EQ(r->out.to_vector(), one.out.to_vector());
    EXPECT_EQ(r->dw.to_vector(), one.dw.to_vector());
    EXPECT_EQ(r->dgamma.to_vector(), one.dgamma.to_vector());
    EXPECT_EQ(r->dbeta.to_vector(), one.dbeta.to_vector());
    EXPECT_EQ(r->running_var.to_vector(), one.running_var.to_vector());
  }
}

TEST(DenseNetStemTrain, AppliesOnlyWhereItShould) {
  Generator gen(7);
  const Tensor x = Tensor::randn({2, 3, 20, 20}, gen);
  Stem s = make_stem(3, 8, 7, 2, 3, 1);
  EXPECT_TRUE(densenet_stem_train_applies(x, *s.conv, *s.norm));
  {
    NoGradGuard ng;  // no graph: the op path (or the folded inference stem) serves
    EXPECT_FALSE(densenet_stem_train_applies(x, *s.conv, *s.norm));
  }
  Tensor xg = x.clone();
  xg.set_requires_grad(true);  // the op gives pixels no gradient
  EXPECT_FALSE(densenet_stem_train_applies(xg, *s.conv, *s.norm));
  EXPECT_FALSE(densenet_stem_train_applies(Tensor::randn({2, 4, 20, 20}, gen), *s.conv, *s.norm));
  EXPECT_FALSE(
      densenet_stem_train_applies(Tensor::randn({1, 3, 1, 1}, gen), *s.conv,
                                  *s.norm));  // one conv output: batch_norm names the problem
  s.norm->train(false);
  EXPECT_FALSE(densenet_stem_train_applies(x, *s.conv, *s.norm));
  s.norm->train(true);
  Conv2dOptions dilated;
  dilated.dilation = {2, 2};
  EXPECT_FALSE(densenet_stem_train_applies(x, Conv2d(3, 8, 3, dilated, false), *s.norm));
  EXPECT_FALSE(densenet_stem_train_applies(x, Conv2d(3, 8, 3, {}, /*bias=*/true), *s.norm));
  EXPECT_THROW(densenet_stem_train(xg, *s.conv, *s.norm), std::exception);
}

}  // namespace
}  // namespace kiln::nn
