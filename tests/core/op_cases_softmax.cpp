// Harness cases for softmax and log_softmax: last, first and middle dims, 0-d, empty, a single
// element along the dim, a long row, and large logits that overflow exp without max-subtraction.
#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

Ref ref_softmax(const Ref& a, int64_t dim, bool log) {
  Ref out = Ref::zeros(a.shape);
  if (a.dim() == 0) {
    out.v[0] = log ? 0.0 : 1.0;
    return out;
  }
  dim = dim < 0 ? dim + a.dim() : dim;
  Shape outer = a.shape;
  outer[dim] = 1;
  const int64_t n = a.shape[dim];
  for_each_index(outer, [&](const std::vector<int64_t>& o) {
    std::vector<int64_t> i = o;
    double m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) i[dim] = j, m = std::max(m, a.at(i));
    double s = 0;
    for (int64_t j = 0; j < n; ++j) i[dim] = j, s += std::exp(a.at(i) - m);
    for (int64_t j = 0; j < n; ++j) {
      i[dim] = j;
      out.at(i) = log ? a.at(i) - m - std::log(s) : std::exp(a.at(i) - m) / s;
    }
  });
  return out;
}

KILN_OP_CASES(softmax_cases) {
  struct S {
    const char* name;
    Shape shape;
    int64_t dim;
  };
  const S ss[] = {{"last", {3, 5}, -1},
                  {"first", {4, 3}, 0},
                  {"middle", {2, 3, 4}, 1},
                  {"rank3_last", {2, 3, 4}, 2},
                  {"first_rank3", {3, 2, 70}, 0},  // > one 64-column chunk
                  {"scalar", {}, 0},
                  {"size0_rows", {0, 4}, -1},
                  {"dim_size1", {3, 1}, 1},
                  {"long_row", {2, 300}, 1}};
  for (const auto& s : ss) {
    for (bool log : {false, true}) {
      cases.push_back(
          {log ? "log_softmax" : "softmax",
           s.name,
           {F(s.shape)},
           [s, log](const std::vector<Tensor>& x) {
             return log ? log_softmax(x[0], s.dim) : softmax(x[0], s.dim);
           },
           [s, log](const std::vector<Ref>& r) { return ref_softmax(r[0], s.dim, log); }});
    }
  }
  // Logits in (-100, 100): exp overflows f32 (and the naive formula) without max-subtraction.
  for (bool log : {false, true}) {
    cases.push_back({log ? "log_softmax" : "softmax",
                     "large_logits",
                     {F({3, 6})},
                     [log](const std::vector<Tensor>& x) {
                       Tensor big = mul(x[0], 50.0);
                       return log ? log_softmax(big, 1) : softmax(big, 1);
                     },
                     [log](const std::vector<Ref>& r) {
                       Ref big = r[0];
                       for (auto& v : big.v) v *= 50.0;
                       return ref_softmax(big, 1, log);
                     }});
    cases.back().f32_atol = 1e-4;
    cases.back().fd_atol = 1e-5;
  }
}

TEST(Softmax, RowsSumToOneAndMatchAcrossThreadCounts) {
  Generator gen(3);
  Tensor x = Tensor::randn({64, 33, 40}, gen);
  const int prev = num_threads();
  set_num_threads(1);
  auto a0 = softmax(x, 1).to_vector(), b0 = log_softmax(x, -1).to_vector();
  set_num_threads(2);
  auto a1 = softmax(x, 1).to_vector(), b1 = log_softmax(x, -1).to_vector();
  set_num_threads(prev);
  EXPECT_EQ(a0, a1);
  EXPECT_EQ(b0, b1);
  Tensor s = sum(softmax(x, 1), {1});
  for (double v : s.to_vector()) ASSERT_NEAR(v, 1.0, 1e-5);
}

TEST(Softmax, BadDimThrows) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(softmax(x, 2), Error);
  EXPECT_THROW(log_softmax(x, -3), Error);
  EXPECT_THROW(softmax(Tensor::zeros({2, 3}, DType::I64), 1), Error);
}

}  // namespace
}  // namespace kiln::testing
