// Harness cases for layer_norm and rms_norm (with and without affine parameters, rank 3, a
// single-feature row, empty batches, a wide row), plus thread-count determinism of the parameter
// gradients and shape validation.
#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

// Naive per-row normalisation; w/b may be null.
Ref ref_norm(const Ref& x, const Ref* w, const Ref* b, double eps, bool rms) {
  Ref out = Ref::zeros(x.shape);
  const int64_t d = x.shape.back();
  const int64_t rows = d ? x.numel() / d : 0;
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0;
    if (!rms) {
      for (int64_t j = 0; j < d; ++j) mean += x.v[r * d + j];
      mean /= d;
    }
    double var = 0;
    for (int64_t j = 0; j < d; ++j) var += (x.v[r * d + j] - mean) * (x.v[r * d + j] - mean);
    var /= d;
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < d; ++j) {
      double y = (x.v[r * d + j] - mean) * rstd;
      if (w) y *= w->v[j];
      if (b) y += b->v[j];
      out.v[r * d + j] = y;
    }
  }
  return out;
}

KILN_OP_CASES(norm_cases) {
  struct N {
    const char* name;
    Shape shape;
    bool weight, bias;
    double eps;
  };
  const N ns[] = {
      {"affine", {3, 5}, true, true, 1e-5},       {"no_affine", {4, 6}, false, false, 1e-5},
      {"weight_only", {3, 4}, true, false, 1e-5}, {"bias_only", {3, 4}, false, true, 1e-5},
      {"rank3", {2, 3, 8}, true, true, 1e-5},     {"one_row", {7}, true, true, 1e-3},
      {"d1", {3, 1}, true, true, 1e-5},           {"size0_rows", {0, 4}, true, true, 1e-5},
      {"many_rows", {70, 3}, true, true, 1e-5},  // > 2 fixed 32-row grad blocks
      {"wide", {2, 200}, true, true, 1e-6}};
  for (const auto& n : ns) {
    for (bool rms : {false, true}) {
      if (rms && n.bias && !n.weight) continue;  // rms_norm has no bias
      const int64_t d = n.shape.back();
      std::vector<InputSpec> in = {F(n.shape)};
      if (n.weight) in.push_back(F({d}));
      if (n.bias && !rms) in.push_back(F({d}));
      const bool hw = n.weight, hb = n.bias && !rms;
      const double eps = n.eps;
      cases.push_back({rms ? "rms_norm" : "layer_norm", n.name, in,
                       [=](const std::vector<Tensor>& x) {
                         Tensor w = hw ? x[1] : Tensor();
                         Tensor b = hb ? x[hw ? 2 : 1] : Tensor();
                         return rms ? rms_norm(x[0], w, eps) : layer_norm(x[0], w, b, eps);
                       },
                       [=](const std::vector<Ref>& r) {
                         const Ref* w = hw ? &r[1] : nullptr;
                         const Ref* b = hb ? &r[hw ? 2 : 1] : nullptr;
                         return ref_norm(r[0], w, b, eps, rms);
                       }});
      if (n.name == std::string("d1") && !rms) cases.back().fd_atol = 1e-5;
    }
  }
  // Small variance: x = 1000 + 0.01 * u, where a one-pass E[x^2] - E[x]^2 would cancel badly.
  cases.push_back({"layer_norm",
                   "offset_small_variance",
                   {U({3, 16}, false), F({16})},
                   [](const std::vector<Tensor>& x) {
                     return layer_norm(add(mul(x[0], 0.01), 1000.0), x[1], Tensor(), 1e-9);
                   },
                   [](const std::vector<Ref>& r) {
                     Ref x = r[0];
                     for (auto& v : x.v) v = 1000.0 + 0.01 * v;
                     return ref_norm(x, &r[1], nullptr, 1e-9, false);
                   }});
  // f32 representation of 1000 + 0.01u carries ~6e-5 absolute error, i.e. ~1e-2 after
  // normalising by a std of ~5e-3; the f64 run is held to the harness's tight tolerance.
  cases.back().f32_atol = 5e-2;
  cases.back().check_backward = false;
}

Tensor param_grad_run(const Tensor& x, const Tensor& w, const Tensor& b, bool rms) {
  w.zero_grad();
  if (b.defined()) b.zero_grad();
  x.zero_grad();
  Tensor y = rms ? rms_norm(x, w, 1e-5) : layer_norm(x, w, b, 1e-5);
  sum(mul(y, y)).backward();
  return w.grad();
}

TEST(Norm, ParameterGradientsDoNotDependOnThreadCount) {
  Generator gen(11);
  Tensor x = Tensor::randn({1000, 48}, gen).set_requires_grad(true);
  Tensor w = Tensor::randn({48}, gen).set_requires_grad(true);
  Tensor b = Tensor::randn({48}, gen).set_requires_grad(true);
  const int prev = num_threads();
  for (bool rms : {false, true}) {
    set_num_threads(1);
    auto w1 = param_grad_run(x, w, b, rms).to_vector();
    auto x1 = x.grad().to_vector();
    auto b1 = rms ? std::vector<double>{} : b.grad().to_vector();
    set_num_threads(2);
    auto w2 = param_grad_run(x, w, b, rms).to_vector();
    auto x2 = x.grad().to_vector();
    auto b2 = rms ? std::vector<double>{} : b.grad().to_vector();
    EXPECT_EQ(w1, w2) << (rms ? "rms_norm" : "layer_norm");
    EXPECT_EQ(b1, b2);
    EXPECT_EQ(x1, x2);
  }
  set_num_threads(prev);
}

TEST(Norm, ValidatesParameterShapes) {
  Tensor x = Tensor::zeros({2, 4});
  EXPECT_THROW(layer_norm(x, Tensor::ones({3}), Tensor(), 1e-5), Error);
  EXPECT_THROW(layer_norm(x, Tensor(), Tensor::ones({4, 1}), 1e-5), Error);
  EXPECT_THROW(rms_norm(x, Tensor::ones({4}, DType::F64), 1e-5), Error);
  EXPECT_THROW(layer_norm(Tensor::scalar(1.0), Tensor(), Tensor(), 1e-5), Error);
}

}  // namespace
}  // namespace kiln::testing
