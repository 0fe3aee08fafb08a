// Dropout inside the fused attention op is exactly dropout() applied to the softmax
// probabilities with the same generator: same mask, same output, same gradients, and the
// generator advances by the same number of counters.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"

namespace kiln {
namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

TEST(AttentionDropout, EqualsSoftmaxThenDropoutThenMatmul) {
  Generator init(9);
  const int64_t B = 2, H = 3, L = 7, D = 8;
  Tensor q = Tensor::randn({B, H, L, D}, init, DType::F32);
  Tensor k = Tensor::randn({B, H, L, D}, init, DType::F32);
  Tensor v = Tensor::randn({B, H, L, D}, init, DType::F32);
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad(true);
  const Tensor upstream = Tensor::randn({B, H, L, D}, init, DType::F32);

  Generator g1(77), g2(77);
  (void)g1.reserve(5);  // a non-zero starting offset, same for both
  (void)g2.reserve(5);
  AttentionOptions o;
  o.dropout_p = 0.25;
  o.dropout_generator = &g1;
  Tensor fused = scaled_dot_product_attention(q, k, v, o);
  sum(mul(fused, upstream)).backward();
  const Tensor dq = q.grad(), dk = k.grad(), dv = v.grad();
  for (Tensor* t : {&q, &k, &v}) t->zero_grad();

  const Tensor scores = mul(matmul(q, transpose(k, -1, -2)), 1.0 / std::sqrt(double(D)));
  Tensor composed = matmul(dropout(softmax(scores, -1), 0.25, true, g2), v);
  sum(mul(composed, upstream)).backward();

  EXPECT_EQ(g1.offset(), g2.offset());
  EXPECT_LE(max_abs_diff(fused, composed), 1e-5);
  EXPECT_LE(max_abs_diff(dq, q.grad()), 1e-5);
  EXPECT_LE(max_abs_diff(dk, k.grad()), 1e-5);
  EXPECT_LE(max_abs_diff(dv, v.grad()), 1e-5);
  // Some probabilities were dropped, so the result differs from attention without dropout.
  NoGradGuard ng;
  EXPECT_GT(max_abs_diff(fused, scaled_dot_product_attention(q, k, v)), 1e-3);
}

TEST(AttentionDropout, NeedsAGenerator) {
  Generator init(1);
  const Tensor q = Tensor::randn({1, 1, 2, 4}, init, DType::F32);
  AttentionOptions o;
  o.dropout_p = 0.1;
  EXPECT_THROW(scaled_dot_product_attention(q, q, q, o), Error);
}

}  // namespace
}  // namespace kiln
