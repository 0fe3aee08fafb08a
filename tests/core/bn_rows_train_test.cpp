// The channels-last training batch-norm loops (core/kernels/bn_rows_train.h), each build (plain,
// and AVX-512 where the CPU has it) against plain f64 loops, on row strides wider than the rows
// and channel counts that fill no vector. The AVX-512 build may contract to FMA, so the builds
// are compared with the reference within float rounding, not bit for bit.
#include "core/kernels/bn_rows_train.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"

namespace kiln::kernels {
namespace {

constexpr int64_t kRows = 37, kChannels = 21, kLd = 29;  // ld > channels: strided rows

std::vector<float> random_values(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(gen) * scale;
  return v;
}

struct Data {
  std::vector<float> x = random_values(kRows * kLd, 1, 2.0f), g = random_values(kRows * kLd, 2),
                     y = random_values(kRows * kLd, 3);  // the mask: y > 0 about half the time
  std::vector<float> mean = random_values(kChannels, 4), invstd = random_values(kChannels, 5),
                     k = random_values(kChannels, 6), a = random_values(kChannels, 7),
                     b = random_values(kChannels, 8);
  Data() {
    for (float& v : invstd) v = std::abs(v) + 0.5f;
  }
  double xhat(int64_t r, int64_t c) const { return (double(x[r * kLd + c]) - mean[c]) * invstd[c]; }
  double gm(int64_t r, int64_t c) const { return y[r * kLd + c] > 0 ? g[r * kLd + c] : 0.0; }
};

void expect_near(double got, double want, double scale, const char* what) {
  EXPECT_NEAR(got, want, 2e-6 * scale) << what;
}

struct Build {
  const char* name;
  decltype(&plain::rows_channel_sums) sums;
  decltype(&plain::rows_bn_relu_backward_part) part;
  decltype(&plain::rows_bn_relu_grad) grad;
  decltype(&plain::rows_sub_affine_of_xhat) sub;
};

std::vector<Build> builds() {
  std::vector<Build> v = {{"plain", plain::rows_channel_sums, plain::rows_bn_relu_backward_part,
                           plain::rows_bn_relu_grad, plain::rows_sub_affine_of_xhat}};
  if (hardware_isa() == IsaLevel::kAvx512)
    v.push_back({"avx512", avx512::rows_channel_sums, avx512::rows_bn_relu_backward_part,
                 avx512::rows_bn_relu_grad, avx512::rows_sub_affine_of_xhat});
  return v;
}

TEST(BnRowsTrain, EveryBuildMatchesF64Loops) {
  const Data d;
  for (const Build& bld : builds()) {
    SCOPED_TRACE(bld.name);
    // Channel sums, plain and of squares about the mean; the sums add to what is there.
    std::vector<double> s(kChannels, 1.0), sq(kChannels, 0.0);
    bld.sums(d.x.data(), kLd, kRows, kChannels, nullptr, s.data());
    bld.sums(d.x.data(), kLd, kRows, kChannels, d.mean.data(), sq.data());
    for (int64_t c = 0; c < kChannels; ++c) {
      double want = 1.0, want_sq = 0.0;
      for (int64_t r = 0; r < kRows; ++r) {
        want += d.x[r * kLd + c];
        want_sq += (double(d.x[r * kLd + c]) - d.mean[c]) * (double(d.x[r * kLd + c]) - d.mean[c]);
      }
      expect_near(s[c], want, 100, "sum");
      expect_near(sq[c], want_sq, 1000, "squares");
    }
    // The backward's sums and the per-element part added into dst.
    std::vector<double> sg(kChannels, 0.0), sx(kChannels, 0.0);
    std::vector<float> dst = random_values(kRows * kLd, 9);
    const std::vector<float> dst0 = dst;
    bld.part(d.g.data(), kLd, d.y.data(), kLd, d.x.data(), kLd, kRows, kChannels, d.mean.data(),
             d.invstd.data(), d.k.data(), dst.data(), kLd, sg.data(), sx.data());
    for (int64_t c = 0; c < kChannels; ++c) {
      double want_g = 0, want_x = 0;
      for (int64_t r = 0; r < kRows; ++r) {
        want_g += d.gm(r, c), want_x += d.gm(r, c) * d.xhat(r, c);
        expect_near(dst[r * kLd + c], dst0[r * kLd + c] + d.k[c] * d.gm(r, c), 10, "dst");
      }
      expect_near(sg[c], want_g, 100, "sum of gm");
      expect_near(sx[c], want_x, 1000, "sum of gm * xhat");
    }
    for (int64_t r = 0; r < kRows; ++r)  // the columns past the channels are not touched
      for (int64_t c = kChannels; c < kLd; ++c) EXPECT_EQ(dst[r * kLd + c], dst0[r * kLd + c]);
    // The full input gradient in place, and the per-channel part subtracted.
    std::vector<float> g = d.g;
    bld.grad(g.data(), kLd, d.y.data(), kLd, d.x.data(), kLd, kRows, kChannels, d.mean.data(),
             d.invstd.data(), d.k.data(), d.a.data(), d.b.data());
    std::vector<float> sub = d.g;
    bld.sub(d.x.data(), kLd, kRows, kChannels, d.mean.data(), d.invstd.data(), d.a.data(),
            d.b.data(), sub.data(), kLd);
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t c = 0; c < kChannels; ++c) {
        expect_near(g[r * kLd + c], d.k[c] * (d.gm(r, c) - d.a[c] - d.xhat(r, c) * d.b[c]), 30,
                    "gradient");
        expect_near(sub[r * kLd + c], d.g[r * kLd + c] - (d.a[c] + d.b[c] * d.xhat(r, c)), 30,
                    "affine part");
      }
  }
}

}  // namespace
}  // namespace kiln::kernels
