// The batch-norm kernels' AVX-512 build (core/kernels/batch_norm_cpu_impl.h, f32) against the
// baseline build: the same bits for the statistics, the forward (with and without the ReLU) and the
// backward (batch and fixed statistics, with and without the ReLU mask, weights or none), on rows
// whose length is not a multiple of the 8 lanes. (Each build's accuracy is the op harness's
// business: batch_norm against its f64 reference and finite differences.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/batch_norm_cpu.h"

namespace kiln::kernels {
namespace {

std::vector<float> random_values(size_t n, uint64_t seed, float shift = 0.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(gen) * 3.0f + shift;
  return v;
}

TEST(BatchNormBuilds, Avx512GivesTheBaselineBits) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  struct Shape {
    int64_t n, c, inner;
  };
  for (const Shape s : {Shape{2, 3, 37}, Shape{4, 5, 8}, Shape{1, 2, 1}, Shape{3, 4, 200}}) {
    const size_t total = static_cast<size_t>(s.n * s.c * s.inner);
    const std::vector<float> x = random_values(total, 1, 0.5f), gy = random_values(total, 2);
    const std::vector<float> w = random_values(static_cast<size_t>(s.c), 3),
                             b = random_values(static_cast<size_t>(s.c), 4);
    std::vector<float> mean[2], var[2];
    for (int k = 0; k < 2; ++k) {
      mean[k].resize(static_cast<size_t>(s.c)), var[k].resize(static_cast<size_t>(s.c));
      (k == 0 ? plain::batch_norm_stats<float>
              : avx512::batch_norm_stats<float>)(x.data(), s.n, s.c, s.inner, mean[k].data(),
                                                 var[k].data());
    }
    ASSERT_EQ(mean[0], mean[1]);
    ASSERT_EQ(var[0], var[1]);
    std::vector<float> invstd(var[0].size());
    for (size_t i = 0; i < invstd.size(); ++i) invstd[i] = 1.0f / std::sqrt(var[0][i] + 1e-5f);
    for (bool relu : {false, true}) {
      std::vector<float> y[2];
      for (int k = 0; k < 2; ++k) {
        y[k].resize(total);
        (k == 0 ? plain::batch_norm_forward<float>
                : avx512::batch_norm_forward<float>)(x.data(), s.n, s.c, s.inner, mean[0].data(),
                                                     invstd.data(), w.data(), b.data(), y[k].data(),
                                                     relu);
      }
      ASSERT_EQ(y[0], y[1]) << "relu " << relu;
      for (bool batch_stats : {false, true})
        for (bool weighted : {false, true}) {
          std::vector<float> gx[2], gw[2], gb[2];
          for (int k = 0; k < 2; ++k) {
            gx[k].resize(total), gw[k].resize(w.size()), gb[k].resize(w.size());
            (k == 0 ? plain::batch_norm_backward<float>
                    : avx512::batch_norm_backward<float>)(gy.data(), x.data(), s.n, s.c, s.inner,
                                                          mean[0].data(), invstd.data(),
                                                          weighted ? w.data() : nullptr,
                                                          batch_stats, gx[k].data(), gw[k].data(),
                                                          gb[k].data(),
                                                          relu ? y[0].data() : nullptr);
          }
          EXPECT_EQ(gx[0], gx[1]) << "relu " << relu << " batch " << batch_stats;
          EXPECT_EQ(gw[0], gw[1]);
          EXPECT_EQ(gb[0], gb[1]);
        }
    }
  }
}

}  // namespace
}  // namespace kiln::kernels
