// The stem pooling kernels (core/kernels/maxpool3s2_rows.h), plain and AVX-512 builds, against
// a direct reference of max_pool2d(relu(y * scale + shift), 3, 2, 1) and of its backward through
// batch norm, on values drawn from a small set so that windows tie often: the winner byte must be
// max_pool2d's first maximum in scan order, or kNoGradient where the pooled value is not
// positive. Scales and shifts are small dyadic numbers, so every y * scale + shift is exact and
// both builds (the AVX-512 one may contract to an FMA) must give the reference's bits. 70
// channels cross the kernels' 64-channel blocks; 9 x 8 pixels cut the last window of the height
// only.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/maxpool3s2_rows.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace kiln {
namespace {

using PoolFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const float*,
                        int64_t, float*, int64_t, uint8_t*);
using SumsFn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, const float*,
                        const uint8_t*, const float*, const float*, double*, double*);
using BackFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const uint8_t*,
                        int64_t, int64_t, const kernels::StemNormGrad&, float*);

struct Case {
  int64_t h = 9, w = 8, c = 70, oh = 5, ow = 4;
  std::vector<float> y, scale, shift, g, mean, invstd, k, mean_g, b;
  Case() {
    Generator gen(21);
    const Tensor r = Tensor::rand({h * w * c + 8 * c + oh * ow * c}, gen);
    const float* u = r.data<float>();
    const float levels[5] = {-1.0f, 0.0f, 0.5f, 1.0f, 2.0f};
    for (int64_t i = 0; i < h * w * c; ++i) y.push_back(levels[static_cast<int>(u[i] * 5) % 5]);
    const float scales[4] = {0.5f, -1.0f, 2.0f, 1.5f}, shifts[3] = {0.25f, -0.5f, 1.0f};
    for (int64_t i = 0; i < c; ++i) {
      scale.push_back(scales[i % 4]), shift.push_back(shifts[i % 3]);
      mean.push_back(u[h * w * c + i] - 0.5f), invstd.push_back(1.0f + u[h * w * c + c + i]);
      k.push_back(u[h * w * c + 2 * c + i] * 2 - 1), mean_g.push_back(u[h * w * c + 3 * c + i]);
      b.push_back(u[h * w * c + 4 * c + i] - 0.5f);
    }
    for (int64_t i = 0; i < oh * ow * c; ++i) g.push_back(u[h * w * c + 8 * c + i] * 2 - 1);
  }
  float z(int64_t yy, int64_t xx, int64_t ch) const {
    return y[(yy * w + xx) * c + ch] * scale[ch] + shift[ch];
  }
  // max_pool2d's winner for (oy, ox, ch): the first maximum in scan order, and the pooled value.
  std::pair<int, float> winner(int64_t oy, int64_t ox, int64_t ch) const {
    int best_pos = -1;
    float best = 0;
    for (int dy = 0; dy < 3; ++dy)
      for (int dx = 0; dx < 3; ++dx) {
        const int64_t yy = 2 * oy - 1 + dy, xx = 2 * ox - 1 + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        const float v = std::max(z(yy, xx, ch), 0.0f);  // relu before the pool
        if (best_pos < 0 || v > best) best = v, best_pos = dy * 3 + dx;
      }
    return {best_pos, best};
  }
};

void check(PoolFn pool, SumsFn sums, BackFn back) {
  const Case t;
  std::vector<float> out(static_cast<size_t>(t.oh * t.ow * t.c));
  std::vector<uint8_t> arg(out.size());
  for (int64_t oy = 0; oy < t.oh; ++oy)
    pool(t.y.data(), t.h, t.w, t.c, t.scale.data(), t.shift.data(), oy,
         out.data() + oy * t.ow * t.c, t.c, arg.data() + oy * t.ow * t.c);
  int ties = 0, blocked = 0;
  for (int64_t oy = 0; oy < t.oh; ++oy)
    for (int64_t ox = 0; ox < t.ow; ++ox)
      for (int64_t ch = 0; ch < t.c; ++ch) {
        const auto [pos, v] = t.winner(oy, ox, ch);
        const size_t i = static_cast<size_t>((oy * t.ow + ox) * t.c + ch);
        ASSERT_EQ(out[i], v) << oy << " " << ox << " " << ch;
        // The winner: max_pool2d's, unless the ReLU blocks the gradient there.
        ASSERT_EQ(arg[i], v > 0 ? pos : kernels::kNoGradient) << oy << " " << ox << " " << ch;
        blocked += v <= 0;
        int equal = 0;
        for (int p = 0; p < 9; ++p) {
          const int64_t yy = 2 * oy - 1 + p / 3, xx = 2 * ox - 1 + p % 3;
          if (yy >= 0 && yy < t.h && xx >= 0 && xx < t.w) equal += t.z(yy, xx, ch) == v;
        }
        ties += v > 0 && equal > 1;
      }
  EXPECT_GT(ties, 100);  // not vacuous: many positive maxima are shared
  EXPECT_GT(blocked, 10);

  // Batch norm's sums over the pooled values, against doubles.
  std::vector<double> sg(static_cast<size_t>(t.c), 0.0), sgx(sg);
  for (int64_t oy = 0; oy < t.oh; ++oy)
    sums(t.y.data(), t.h, t.w, t.c, oy, t.g.data() + oy * t.ow * t.c, arg.data() + oy * t.ow * t.c,
         t.mean.data(), t.invstd.data(), sg.data(), sgx.data());
  // The input gradient over all rows at once and in bands of 1, 2 and 4 rows: the same bits.
  const kernels::StemNormGrad coef{t.k.data(), t.mean_g.data(), t.mean.data(), t.b.data()};
  std::vector<float> whole(static_cast<size_t>(t.h * t.w * t.c));
  back(t.y.data(), t.h, t.w, t.c, t.g.data(), arg.data(), 0, t.h, coef, whole.data());
  for (int64_t band : {1, 2, 4}) {
    std::vector<float> banded(whole.size());
    for (int64_t ya = 0; ya < t.h; ya += band)
      back(t.y.data(), t.h, t.w, t.c, t.g.data(), arg.data(), ya, std::min(t.h, ya + band), coef,
           banded.data() + ya * t.w * t.c);
    ASSERT_EQ(banded, whole) << "bands of " << band;
  }
  std::vector<double> G(whole.size(), 0.0), rg(sg.size(), 0.0), rgx(sg.size(), 0.0);
  for (int64_t oy = 0; oy < t.oh; ++oy)
    for (int64_t ox = 0; ox < t.ow; ++ox)
      for (int64_t ch = 0; ch < t.c; ++ch) {
        const auto [pos, v] = t.winner(oy, ox, ch);
        if (v <= 0) continue;
        const int64_t yy = 2 * oy - 1 + pos / 3, xx = 2 * ox - 1 + pos % 3;
        const double gv = t.g[static_cast<size_t>((oy * t.ow + ox) * t.c + ch)];
        G[static_cast<size_t>((yy * t.w + xx) * t.c + ch)] += gv;
        rg[ch] += gv;
        rgx[ch] += gv * (t.y[(yy * t.w + xx) * t.c + ch] - t.mean[ch]) * t.invstd[ch];
      }
  for (int64_t ch = 0; ch < t.c; ++ch) {
    EXPECT_NEAR(sg[ch], rg[ch], 1e-5) << ch;
    EXPECT_NEAR(sgx[ch], rgx[ch], 1e-4) << ch;
  }
  double worst = 0;
  for (int64_t p = 0; p < t.h * t.w; ++p)
    for (int64_t ch = 0; ch < t.c; ++ch) {
      const size_t i = static_cast<size_t>(p * t.c + ch);
      const double want = t.k[ch] * (G[i] - t.mean_g[ch] - (t.y[i] - double(t.mean[ch])) * t.b[ch]);
      worst = std::max(worst, std::abs(whole[i] - want));
    }
  EXPECT_LT(worst, 1e-5);
}

TEST(MaxPool3s2Rows, PlainMatchesMaxPoolAndItsBackward) {
  check(kernels::plain::bn_relu_maxpool3s2_row, kernels::plain::maxpool3s2_grad_sums_row,
        kernels::plain::maxpool3s2_bn_backward_rows);
}

TEST(MaxPool3s2Rows, Avx512MatchesMaxPoolAndItsBackward) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check(kernels::avx512::bn_relu_maxpool3s2_row, kernels::avx512::maxpool3s2_grad_sums_row,
        kernels::avx512::maxpool3s2_bn_backward_rows);
}

}  // namespace
}  // namespace kiln
