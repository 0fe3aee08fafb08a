// Harness cases for dropout (each run builds a fresh Generator(42), so the mask is the same on
// every call and finite differences see a fixed linear map; the reference rebuilds the mask from
// Generator::uniform_at(42, i)), plus GoogleTests for the statistics, thread-count independence,
// identity modes, generator advance and argument checks.
#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

Ref ref_dropout(const Ref& a, double p, bool training) {
  if (!training || p == 0.0) return a;
  Ref out = a;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const bool keep = Generator::uniform_at(42, static_cast<uint64_t>(i)) >= p;
    out.v[i] = keep ? a.v[i] / (1.0 - p) : 0.0;
  }
  return out;
}

KILN_OP_CASES(dropout_cases) {
  struct D {
    const char* name;
    Shape shape;
    double p;
    bool training;
  };
  const D ds[] = {{"p0.3", {4, 5}, 0.3, true},           {"p0.5_rank3", {2, 3, 7}, 0.5, true},
                  {"p0.9", {6, 6}, 0.9, true},           {"p0.1_long", {3, 333}, 0.1, true},
                  {"p0_identity", {3, 4}, 0.0, true},    {"eval_identity", {3, 4}, 0.5, false},
                  {"p1_all_dropped", {3, 4}, 1.0, true}, {"scalar", {}, 0.25, true},
                  {"size0", {0, 5}, 0.5, true}};
  for (const auto& d : ds) {
    cases.push_back(
        {"dropout",
         d.name,
         {F(d.shape)},
         [d](const std::vector<Tensor>& x) {
           Generator gen(42);
           return dropout(x[0], d.p, d.training, gen);
         },
         [d](const std::vector<Ref>& r) { return ref_dropout(r[0], d.p, d.training); }});
  }
}

std::vector<double> mask_of(const Tensor& y) {
  std::vector<double> m = y.to_vector();
  for (auto& v : m) v = v != 0.0;
  return m;
}

TEST(Dropout, KeepFractionAndScale) {
  Tensor x = Tensor::ones({1000, 1000});
  for (double p : {0.1, 0.5, 0.8}) {
    Generator gen(7);
    auto y = dropout(x, p, true, gen).to_vector();
    int64_t kept = 0;
    for (double v : y) {
      if (v != 0.0) {
        ++kept;
        ASSERT_NEAR(v, 1.0 / (1.0 - p), 1e-6);
      }
    }
    const double frac = static_cast<double>(kept) / static_cast<double>(y.size());
    // Binomial std of the fraction is <= 5e-4 for 1e6 draws; 5e-3 is ~10 sigma.
    EXPECT_NEAR(frac, 1.0 - p, 5e-3) << "p=" << p;
    EXPECT_EQ(gen.offset(), 1000000u);
  }
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  Generator g0(123);
  Tensor x = Tensor::randn({300, 517}, g0);  // odd sizes: tasks start mid Philox block
  const int prev = num_threads();
  set_num_threads(1);
  Generator a(99);
  a.reserve(3);  // a start offset that is not a multiple of 4
  auto y1 = dropout(x, 0.4, true, a).to_vector();
  set_num_threads(2);
  Generator b(99);
  b.reserve(3);
  auto y2 = dropout(x, 0.4, true, b).to_vector();
  set_num_threads(prev);
  EXPECT_EQ(y1, y2);
  // And element i uses counter start + i.
  auto xv = x.to_vector();
  for (size_t i = 0; i < y1.size(); i += 997) {
    const bool keep = Generator::uniform_at(99, 3 + i) >= 0.4;
    EXPECT_EQ(y1[i] != 0.0, keep) << i;
    EXPECT_NEAR(y1[i], keep ? xv[i] / 0.6 : 0.0, 1e-5 * (1 + std::abs(xv[i]))) << i;
  }
}

TEST(Dropout, MaskFollowsLogicalIndexOfNonContiguousInput) {
  Generator g0(5);
  Tensor base = Tensor::randn({40, 30}, g0);
  Tensor xt = base.transpose(0, 1);  // [30, 40], non-contiguous
  Generator a(8), b(8);
  auto y1 = dropout(xt, 0.5, true, a).to_vector();
  auto y2 = dropout(xt.contiguous(), 0.5, true, b).to_vector();
  EXPECT_EQ(y1, y2);
}

TEST(Dropout, EvalAndZeroProbabilityAreIdentity) {
  Generator gen(1);
  Tensor x = Tensor::ones({4, 4});
  EXPECT_TRUE(dropout(x, 0.5, false, gen).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, gen).same(x));
  EXPECT_EQ(gen.offset(), 0u);  // no draws consumed
}

TEST(Dropout, AdvancingGeneratorGivesDifferentMasks) {
  Generator gen(2024);
  Tensor x = Tensor::ones({64, 64});
  auto m1 = mask_of(dropout(x, 0.5, true, gen));
  EXPECT_EQ(gen.offset(), 4096u);
  auto m2 = mask_of(dropout(x, 0.5, true, gen));
  EXPECT_NE(m1, m2);
  Generator fresh(2024);
  EXPECT_EQ(mask_of(dropout(x, 0.5, true, fresh)), m1);  // same seed + offset: same mask
}

TEST(Dropout, GradientIsMaskedAndScaled) {
  Generator gen(3);
  Tensor x = Tensor::randn({50, 20}, gen).set_requires_grad(true);
  Generator g(77);
  Tensor y = dropout(x, 0.25, true, g);
  sum(y).backward();
  auto gx = x.grad().to_vector();
  auto yv = y.to_vector();
  for (size_t i = 0; i < gx.size(); ++i) ASSERT_NEAR(gx[i], yv[i] != 0.0 ? 1.0 / 0.75 : 0.0, 1e-6);
}

TEST(Dropout, RejectsProbabilityOutsideUnitInterval) {
  Generator gen(1);
  Tensor x = Tensor::ones({3});
  EXPECT_THROW(dropout(x, -0.1, true, gen), Error);
  EXPECT_THROW(dropout(x, 1.5, true, gen), Error);
  EXPECT_THROW(dropout(x, 1.5, false, gen), Error);
  EXPECT_THROW(dropout(x, std::nan(""), true, gen), Error);
}

}  // namespace
}  // namespace kiln::testing
