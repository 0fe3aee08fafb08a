// Autograd engine behaviour beyond single ops: accumulation, shared leaves, detach, no-grad
// guard (no graph at all), retain_graph and its absence.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln {
namespace {

Tensor param(std::vector<double> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s, DType::F64);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, LeafUsedTwiceAccumulates) {
  Tensor x = param({1, 2, 3}, {3});
  Tensor y = sum(add(mul(x, x), x));  // d/dx = 2x + 1
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 5, 7}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardsUntilZeroed) {
  Tensor x = param({1, 2}, {2});
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DetachStopsGradients) {
  Tensor x = param({2}, {1});
  Tensor y = sum(mul(x, x.detach()));  // only the first factor carries gradient
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2}));
  EXPECT_FALSE(x.detach().requires_grad());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor w = param({1, 2, 3, 4}, {2, 2});
  Tensor x = Tensor::from_vector({1, 1}, {1, 2}, DType::F64);
  const int64_t before = Node::live_count();
  {
    NoGradGuard ng;
    Tensor y = gelu(linear(x, w, Tensor()));
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_EQ(Node::live_count(), before);
  }
  Tensor y = gelu(linear(x, w, Tensor()));
  EXPECT_TRUE(y.requires_grad());
  EXPECT_GT(Node::live_count(), before);
  y = Tensor();
  EXPECT_EQ(Node::live_count(), before);  // the graph dies with its output
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = param({1, 2}, {2});
  Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  const auto g = x.grad().to_vector();
  EXPECT_NEAR(g[0], 2 * std::exp(1.0), 1e-12);
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, NonScalarBackwardNeedsAGradient) {
  Tensor x = param({1, 2}, {2});
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.backward(), Error);
  y.backward(Tensor::from_vector({1, 10}, {2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 20}));
}

TEST(Autograd, BackwardOnTensorWithoutHistoryIsAnError) {
  Tensor x = Tensor::from_vector({1}, {1}, DType::F64);
  EXPECT_THROW(sum(x).backward(), Error);
}

TEST(Autograd, InPlaceWriteToParameterIsRefusedUnderGradMode) {
  Tensor x = param({1, 2}, {2});
  EXPECT_THROW(fill_(x, 0.0), Error);
  NoGradGuard ng;  // optimizers update parameters under no-grad
  fill_(x, 0.0);
  EXPECT_EQ(x.to_vector(), (std::vector<double>{0, 0}));
}

TEST(Autograd, DeepChainDoesNotRecurse) {
  // The engine walks the tape iteratively: a 20k-op chain must not overflow the stack.
  Tensor x = param({1}, {1});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 0.0);
  sum(y).backward();
  EXPECT_EQ(x.grad().item(), 1.0);
  y = Tensor();  // and destroying the chain must not recurse either
}

}  // namespace
}  // namespace kiln
