// Kernel paths added for speed agree with each other and with a double-precision reference:
// the plain and AVX-512 builds of the GELU loops both stay within 1e-5 (relative) of x * Phi(x)
// computed with std::erfc in double, far tails included (the rounding of x^2 in exp(-x^2 / 2)
// limits the tail to ~3e-6).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/ops.h"

namespace kiln {
namespace {

std::vector<float> sample_inputs() {
  std::vector<float> x;
  for (float v = -20.0f; v <= 20.0f; v += 0.001953125f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, -1e-6f, 13.0f, -13.0f, 100.0f, -100.0f})
    x.push_back(v);
  return x;
}

double gelu_ref(double x) {
  return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
}
double gelu_grad_ref(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

void check_against_reference(void (*fwd)(const float*, float*, int64_t),
                             void (*bwd)(const float*, const float*, float*, int64_t)) {
  const auto x = sample_inputs();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(x.size()), g(x.size(), 1.0f), dx(x.size());
  fwd(x.data(), y.data(), n);
  bwd(g.data(), x.data(), dx.data(), n);
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = gelu_ref(x[i]), dr = gelu_grad_ref(x[i]);
    EXPECT_NEAR(y[i], r, 1e-5 * std::abs(r) + 1e-37) << "gelu(" << x[i] << ")";
    EXPECT_NEAR(dx[i], dr, 1e-5 * std::abs(dr) + 2e-7) << "gelu'(" << x[i] << ")";
  }
}

TEST(PerfPaths, GeluPlainMatchesDoubleReference) {
  check_against_reference(kernels::gelu_f32_plain, kernels::gelu_backward_f32_plain);
}

TEST(PerfPaths, GeluAvx512MatchesDoubleReference) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_against_reference(kernels::gelu_f32_avx512, kernels::gelu_backward_f32_avx512);
}

// Whatever path is dispatched, an element's bits do not depend on its position in a chunk
// (vector body or remainder loop), so thread splits cannot change results; the op (f32) goes
// through the dispatched kernel and matches it bit for bit.
TEST(PerfPaths, GeluResultIndependentOfChunking) {
  for (int64_t n : {1, 7, 17, 33, 1000, 70001}) {
    std::vector<float> v(static_cast<size_t>(n)), ones(v.size(), 1.0f);
    for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) * 6.0f;
    std::vector<float> whole(v.size()), single(v.size()), dwhole(v.size()), dsingle(v.size());
    kernels::gelu_f32(v.data(), whole.data(), n);
    kernels::gelu_backward_f32(ones.data(), v.data(), dwhole.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      kernels::gelu_f32(&v[i], &single[i], 1);
      kernels::gelu_backward_f32(&ones[i], &v[i], &dsingle[i], 1);
    }
    Tensor y = gelu(Tensor::from_floats(v, {n}));
    const float* yp = y.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(whole[i]), std::bit_cast<uint32_t>(single[i]))
          << n << " " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(dwhole[i]), std::bit_cast<uint32_t>(dsingle[i]))
          << n << " " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(yp[i]), std::bit_cast<uint32_t>(whole[i])) << n << " " << i;
    }
  }
}

}  // namespace
}  // namespace kiln
