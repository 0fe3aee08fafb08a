// The decoder's growing key/value cache (nn/attention_cache.h) against plain concatenation and
// index_select: appends past the buffer's capacity, beam reorders with repeats and cycles done
// in place, a change of batch size, and the concatenating path when gradients are recorded.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/attention_cache.h"

namespace kiln::nn {
namespace {

Tensor random(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::zeros(shape);
  fill_randn_(t, gen, 1.0);
  return t;
}

void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(got.to_vector(), want.to_vector());
}

TEST(AttentionCache, AppendsPastCapacityAndReordersOnlyMovedRows) {
  NoGradGuard no_grad;
  Generator gen(3);
  AttentionCache cache;
  Tensor want_k, want_v;
  const std::vector<std::vector<int64_t>> reorders = {{0, 0, 2}, {1, 0, 2}, {2, 0, 1}, {0, 1, 2}};
  for (int step = 0; step < 150; ++step) {  // the buffer starts at 64 positions and doubles
    const Tensor k = random({3, 2, 1, 4}, gen), v = random({3, 2, 1, 4}, gen);
    cache.append(k, v);
    want_k = want_k.defined() ? concat({want_k, k}, 2) : k;
    want_v = want_v.defined() ? concat({want_v, v}, 2) : v;
    if (step % 7 == 3) {
      const auto& rows = reorders[static_cast<size_t>(step / 7) % reorders.size()];
      cache.select_rows(rows);
      const Tensor index = Tensor::from_ints(rows, {3});
      want_k = index_select(want_k, 0, index);
      want_v = index_select(want_v, 0, index);
    }
    expect_same(cache.key, want_k);
    expect_same(cache.value, want_v);
  }
  // Fewer rows (an input finished): gathered, then appends go on.
  cache.select_rows({2, 0});
  want_k = index_select(want_k, 0, Tensor::from_ints({2, 0}, {2}));
  const Tensor k = random({2, 2, 1, 4}, gen), v = random({2, 2, 1, 4}, gen);
  cache.append(k, v);
  expect_same(cache.key, concat({want_k, k}, 2));
}

TEST(AttentionCache, WithGradientsItConcatenates) {
  Generator gen(4);
  AttentionCache cache;
  Tensor k = random({1, 1, 2, 3}, gen);
  k.set_requires_grad(true);
  cache.append(k, k);
  cache.append(k, k);
  sum(cache.key).backward();
  EXPECT_EQ(k.grad().to_vector(), std::vector<double>(6, 2.0));
}

}  // namespace
}  // namespace kiln::nn
