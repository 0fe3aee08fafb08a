// The Winograd F(2x2, 3x3) weight gradient against the direct sum in f64, on zero-bordered
// channels-last grids with even and odd sizes (the last tile's missing row or column), several
// images, channel counts that fill no vector, and enough tiles for several chunks and groups;
// and bit-identical across thread counts.
#include "core/kernels/winograd_f2x3_wgrad.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

struct Case {
  int64_t n, h, w, cin, cout;
};

// A grid of n images h x w with c channels: random inside, zero on the border.
std::vector<float> grid(const Case& k, int64_t c, uint64_t seed) {
  Generator gen(seed);
  const std::vector<double> r = Tensor::randn({k.n * (k.h + 2) * (k.w + 2) * c}, gen).to_vector();
  std::vector<float> g(r.size(), 0.0f);
  for (int64_t i = 0; i < k.n; ++i)
    for (int64_t y = 1; y <= k.h; ++y)
      for (int64_t x = 1; x <= k.w; ++x)
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t at = ((i * (k.h + 2) + y) * (k.w + 2) + x) * c + ch;
          g[at] = static_cast<float>(r[at]);
        }
  return g;
}

// dw[o][c][i][j] = sum over images and output pixels of gy[o] * a[c] at the tap's offset.
std::vector<double> direct(const Case& k, const std::vector<float>& a,
                           const std::vector<float>& gy) {
  std::vector<double> dw(k.cout * k.cin * 9, 0.0);
  auto at = [&](int64_t i, int64_t y, int64_t x) { return (i * (k.h + 2) + y) * (k.w + 2) + x; };
  for (int64_t i = 0; i < k.n; ++i)
    for (int64_t y = 1; y <= k.h; ++y)
      for (int64_t x = 1; x <= k.w; ++x)
        for (int64_t o = 0; o < k.cout; ++o)
          for (int64_t c = 0; c < k.cin; ++c)
            for (int64_t t = 0; t < 9; ++t)
              dw[(o * k.cin + c) * 9 + t] += double(gy[at(i, y, x) * k.cout + o]) *
                                             a[at(i, y + t / 3 - 1, x + t % 3 - 1) * k.cin + c];
  return dw;
}

TEST(WinogradWeightGrad, MatchesDirectSumInF64) {
  for (const Case& k :
       {Case{1, 4, 4, 3, 2}, Case{2, 7, 5, 5, 3}, Case{3, 6, 9, 17, 4}, Case{4, 29, 31, 9, 6}}) {
    const std::vector<float> a = grid(k, k.cin, 1), gy = grid(k, k.cout, 2);
    std::vector<float> dw(k.cout * k.cin * 9);
    winograd_f2x3_weight_grad(a.data(), k.cin, gy.data(), k.cout, k.n, k.h, k.w, dw.data());
    const std::vector<double> want = direct(k, a, gy);
    double scale = 0, diff = 0;
    for (size_t i = 0; i < dw.size(); ++i)
      scale = std::max(scale, std::abs(want[i])), diff = std::max(diff, std::abs(dw[i] - want[i]));
    EXPECT_LT(diff, 2e-6 * scale) << k.n << "x" << k.h << "x" << k.w;
  }
}

TEST(WinogradWeightGrad, BitIdenticalAcrossThreadCounts) {
  const Case k{4, 29, 31, 9, 6};  // 4 x 15 x 16 tiles: several chunks and groups
  const std::vector<float> a = grid(k, k.cin, 3), gy = grid(k, k.cout, 4);
  const int saved = num_threads();
  std::vector<std::vector<float>> out;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    out.emplace_back(k.cout * k.cin * 9);
    winograd_f2x3_weight_grad(a.data(), k.cin, gy.data(), k.cout, k.n, k.h, k.w, out.back().data());
  }
  set_num_threads(saved);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
}

}  // namespace
}  // namespace kiln::kernels
