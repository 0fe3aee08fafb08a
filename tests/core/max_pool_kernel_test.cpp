// The max-pool kernel (core/kernels/pool2d_cpu.h) against a plain row-major scan, on planes wide
// enough for its four-windows-side-by-side path (and the single-window path at the edges), with
// values drawn from {0, 1, 2} so that windows tie as they do after a ReLU (the first maximum in
// row-major order must win: it decides where the gradient goes) and a few NaNs (a NaN wins and
// the first one is kept). Values and argmax must match exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/kernels/pool2d_cpu.h"

namespace kiln::kernels {
namespace {

void reference(const PoolGeometry& g, const float* x, float* y, int64_t* argmax) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t at = -1;
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iy = oy * g.sh - g.ph + i, ix = ox * g.sw - g.pw + j;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            const float v = x[(p * g.h + iy) * g.w + ix];
            if (at < 0 || v > best || (std::isnan(v) && !std::isnan(best)))
              best = v, at = iy * g.w + ix;
          }
        y[(p * g.oh + oy) * g.ow + ox] = best;
        argmax[(p * g.oh + oy) * g.ow + ox] = at;
      }
}

TEST(MaxPoolKernel, TiesAndNaNsGoToTheFirstInRowMajorOrder) {
  struct Case {
    int64_t h, w, k, s, p;
  };
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> pick(0, 2), rare(0, 199);
  for (const Case c : {Case{23, 37, 3, 2, 1}, Case{16, 16, 2, 2, 0}, Case{9, 21, 3, 1, 1},
                       Case{12, 30, 5, 3, 2}}) {
    PoolGeometry g{};
    g.planes = 3, g.h = c.h, g.w = c.w, g.kh = g.kw = c.k, g.sh = g.sw = c.s, g.ph = g.pw = c.p;
    g.oh = (c.h + 2 * c.p - c.k) / c.s + 1, g.ow = (c.w + 2 * c.p - c.k) / c.s + 1;
    std::vector<float> x(static_cast<size_t>(g.planes * g.h * g.w));
    for (float& v : x) v = rare(gen) == 0 ? std::nanf("") : static_cast<float>(pick(gen));
    const size_t n = static_cast<size_t>(g.planes * g.oh * g.ow);
    std::vector<float> y(n), want_y(n);
    std::vector<int64_t> at(n), want_at(n);
    max_pool2d_forward<float>(g, x.data(), y.data(), at.data());
    reference(g, x.data(), want_y.data(), want_at.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(at[i], want_at[i]) << "output " << i << " of " << c.h << "x" << c.w << " k" << c.k;
      ASSERT_TRUE(y[i] == want_y[i] || (std::isnan(y[i]) && std::isnan(want_y[i]))) << i;
    }
  }
}

}  // namespace
}  // namespace kiln::kernels
