// conv2d's fast paths (1x1 as a GEMM, shifted planes, im2col + GEMM) against its reference loops at
// DenseNet's shapes; bit-identical results across thread counts for conv2d, batch_norm and the
// pools; batch_norm's running-statistics update; folding an eval batch norm into the convolution
// before it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/conv_ops.h"
#include "core/kernels/conv2d_cpu.h"
#include "core/kernels/conv2d_shifted.h"
#include "core/kernels/conv2d_winograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/core/thread_count_restorer.h"

namespace kiln {
namespace {

struct Shapes {
  const char* name;
  Shape x, w;
  Conv2dOptions o;
};

Conv2dOptions opts(int64_t s, int64_t p, int64_t groups = 1, int64_t d = 1) {
  Conv2dOptions o;
  o.stride = {s, s}, o.padding = {p, p}, o.dilation = {d, d}, o.groups = groups;
  return o;
}

const std::vector<Shapes>& shapes() {
  static const std::vector<Shapes> s = {
      {"stem_7x7", {2, 3, 33, 31}, {16, 3, 7, 7}, opts(2, 3)},
      {"bottleneck_1x1", {3, 40, 9, 9}, {32, 40, 1, 1}, opts(1, 0)},
      {"wide_1x1_in_place", {2, 6, 33, 32}, {5, 6, 1, 1}, opts(1, 0)},  // one sample per GEMM
      {"plane_196_1x1_in_place", {3, 12, 14, 14}, {20, 12, 1, 1}, opts(1, 0)},  // the threshold
      {"grouped_1x1_one_sample", {2, 8, 15, 14}, {6, 4, 1, 1}, opts(1, 0, 2)},  // staged: groups
      {"growth_3x3", {2, 32, 9, 7}, {8, 32, 3, 3}, opts(1, 1)},
      {"grouped_dilated", {1, 8, 11, 10}, {6, 4, 3, 3}, opts(2, 2, 2, 2)},
      // Unit stride with >= 16 channels per group: the shifted-plane path (conv2d_shifted.h).
      {"shifted_grouped_dilated", {2, 32, 10, 9}, {8, 16, 3, 3}, opts(1, 2, 2, 2)},
      {"shifted_valid_5x5", {3, 16, 9, 8}, {4, 16, 5, 5}, opts(1, 0)},
      {"shifted_padded_1x1", {1, 16, 5, 6}, {3, 16, 1, 1}, opts(1, 1)},
      {"few_channels_3x3_im2col", {2, 3, 9, 7}, {8, 3, 3, 3}, opts(1, 1)},
      // 3x3 / stride 1 / padding 1 with >= 16 channels each side: the f32 input gradient by
      // Winograd F(2x2, 3x3) (conv2d_winograd.h), odd sizes and channel counts included.
      {"winograd_odd_3x3", {2, 24, 9, 7}, {16, 24, 3, 3}, opts(1, 1)},
      {"winograd_even_3x3", {3, 32, 8, 10}, {40, 32, 3, 3}, opts(1, 1)},
  };
  return s;
}

kernels::ConvGeometry geometry(const Shapes& s) {
  kernels::ConvGeometry g{};
  g.n = s.x[0], g.cin = s.x[1], g.h = s.x[2], g.w = s.x[3];
  g.cout = s.w[0], g.kh = s.w[2], g.kw = s.w[3];
  g.sh = g.sw = s.o.stride[0], g.ph = g.pw = s.o.padding[0], g.dh = g.dw = s.o.dilation[0];
  g.groups = s.o.groups;
  g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0, scale = 1e-30;
  for (float v : b) scale = std::max(scale, std::fabs(double(v)));
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m / scale;
}

TEST(Conv2dKernels, FastPathMatchesReference) {
  Generator gen(5);
  for (const auto& s : shapes()) {
    const auto g = geometry(s);
    Tensor x = Tensor::randn(s.x, gen), w = Tensor::randn(s.w, gen),
           b = Tensor::randn({g.cout}, gen);
    Tensor gy = Tensor::randn({g.n, g.cout, g.oh, g.ow}, gen);
    const int64_t ny = gy.numel();
    std::vector<float> y1(ny), y2(ny), gx1(x.numel()), gx2(x.numel()), gw1(w.numel()),
        gw2(w.numel()), gb1(g.cout), gb2(g.cout);
    kernels::conv2d_forward<float>(g, x.data<float>(), w.data<float>(), b.data<float>(), y1.data());
    kernels::conv2d_forward_reference<float>(g, x.data<float>(), w.data<float>(), b.data<float>(),
                                             y2.data());
    kernels::conv2d_backward<float>(g, x.data<float>(), w.data<float>(), gy.data<float>(),
                                    gx1.data(), gw1.data(), gb1.data());
    kernels::conv2d_backward_reference<float>(g, x.data<float>(), w.data<float>(), gy.data<float>(),
                                              gx2.data(), gw2.data(), gb2.data());
    EXPECT_LT(max_rel_diff(y1, y2), 1e-5) << s.name;
    EXPECT_LT(max_rel_diff(gx1, gx2), 1e-5) << s.name;
    EXPECT_LT(max_rel_diff(gw1, gw2), 1e-5) << s.name;
    EXPECT_LT(max_rel_diff(gb1, gb2), 1e-5) << s.name;
  }
}

TEST(Conv2dKernels, WinogradTakesOnlyItsShapes) {
  int taken = 0;
  for (const auto& s : shapes()) {
    const bool w = kernels::conv2d_winograd_applies(geometry(s));
    EXPECT_EQ(w, std::string(s.name).rfind("winograd", 0) == 0) << s.name;
    taken += w;
  }
  EXPECT_EQ(taken, 2);
}

// The shifted-plane path on its own, with chunk limits that split the batch into one, two and
// three-sample chunks, against the reference loops.
TEST(Conv2dKernels, ShiftedPlanesMatchReferenceInEveryChunking) {
  Generator gen(9);
  int checked = 0;
  for (const auto& s : shapes()) {
    const auto g = geometry(s);
    if (!kernels::conv2d_shifted_applies(g)) continue;
    Tensor x = Tensor::randn(s.x, gen), w = Tensor::randn(s.w, gen),
           b = Tensor::randn({g.cout}, gen);
    Tensor gy = Tensor::randn({g.n, g.cout, g.oh, g.ow}, gen);
    std::vector<float> y2(gy.numel()), gx2(x.numel()), gw2(w.numel()), gb2(g.cout);
    kernels::conv2d_forward_reference<float>(g, x.data<float>(), w.data<float>(), b.data<float>(),
                                             y2.data());
    kernels::conv2d_backward_reference<float>(g, x.data<float>(), w.data<float>(), gy.data<float>(),
                                              gx2.data(), gw2.data(), gb2.data());
    const int64_t plane = (g.h + 2 * g.ph) * (g.w + 2 * g.pw);
    const int64_t widest = std::max(g.cin, g.cout) / g.groups * plane;
    for (int64_t per_chunk : {int64_t(1), int64_t(2), g.n}) {
      std::vector<float> y1(gy.numel()), gx1(x.numel()), gw1(w.numel()), gb1(g.cout);
      kernels::conv2d_forward_shifted<float>(g, x.data<float>(), w.data<float>(), b.data<float>(),
                                             y1.data(), widest * per_chunk);
      kernels::conv2d_backward_shifted<float>(g, x.data<float>(), w.data<float>(), gy.data<float>(),
                                              gx1.data(), gw1.data(), gb1.data(),
                                              widest * per_chunk);
      EXPECT_LT(max_rel_diff(y1, y2), 1e-5) << s.name << " chunk " << per_chunk;
      EXPECT_LT(max_rel_diff(gx1, gx2), 1e-5) << s.name << " chunk " << per_chunk;
      EXPECT_LT(max_rel_diff(gw1, gw2), 1e-5) << s.name << " chunk " << per_chunk;
      EXPECT_LT(max_rel_diff(gb1, gb2), 1e-5) << s.name << " chunk " << per_chunk;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 7);  // growth_3x3, the shifted_* and winograd_* shapes, the 3-channel one
}

// In f64 the shifted path must agree with the reference to rounding (~1e-15): an indexing slip
// that touches a few border elements would hide under f32's 1e-5 but not here.
TEST(Conv2dKernels, ShiftedPlanesMatchReferenceInDouble) {
  Generator gen(13);
  for (const auto& s : shapes()) {
    const auto g = geometry(s);
    if (!kernels::conv2d_shifted_applies(g)) continue;
    Tensor x = Tensor::randn(s.x, gen, DType::F64), w = Tensor::randn(s.w, gen, DType::F64),
           b = Tensor::randn({g.cout}, gen, DType::F64);
    Tensor gy = Tensor::randn({g.n, g.cout, g.oh, g.ow}, gen, DType::F64);
    auto run = [&](bool shifted) {
      std::vector<double> y(gy.numel()), gx(x.numel()), gw(w.numel()), gb(g.cout);
      const double *xp = x.data<double>(), *wp = w.data<double>(), *bp = b.data<double>(),
                   *gyp = gy.data<double>();
      if (shifted) {
        kernels::conv2d_forward_shifted<double>(g, xp, wp, bp, y.data(), 1 << 10);
        kernels::conv2d_backward_shifted<double>(g, xp, wp, gyp, gx.data(), gw.data(), gb.data(),
                                                 1 << 10);
      } else {
        kernels::conv2d_forward_reference<double>(g, xp, wp, bp, y.data());
        kernels::conv2d_backward_reference<double>(g, xp, wp, gyp, gx.data(), gw.data(), gb.data());
      }
      return std::vector<std::vector<double>>{y, gx, gw, gb};
    };
    const auto got = run(true), want = run(false);
    for (size_t k = 0; k < got.size(); ++k)
      for (size_t i = 0; i < got[k].size(); ++i)
        ASSERT_NEAR(got[k][i], want[k][i], 1e-11 * (1 + std::fabs(want[k][i])))
            << s.name << " output " << k << " element " << i;
  }
}

// Forward and every gradient of conv -> batch_norm (train) -> max pool -> avg pool -> adaptive.
std::vector<std::vector<float>> image_block_run(const Shapes& s, int threads) {
  set_num_threads(threads);
  Generator gen(17);
  Tensor x = Tensor::randn(s.x, gen).set_requires_grad(true);
  Tensor w = Tensor::randn(s.w, gen).set_requires_grad(true);
  const int64_t c = s.w[0];
  Tensor b = Tensor::randn({c}, gen).set_requires_grad(true);
  Tensor gamma = Tensor::randn({c}, gen).set_requires_grad(true);
  Tensor beta = Tensor::randn({c}, gen).set_requires_grad(true);
  Tensor rm = Tensor::zeros({c}), rv = Tensor::ones({c});
  Tensor y = conv2d(x, w, b, s.o);
  y = relu(batch_norm(y, gamma, beta, rm, rv, true));
  Pool2dOptions mp;
  mp.kernel = {3, 3}, mp.stride = {2, 2}, mp.padding = {1, 1};
  Pool2dOptions ap;
  ap.kernel = {2, 2}, ap.ceil_mode = true;
  Tensor out = adaptive_avg_pool2d(avg_pool2d(max_pool2d(y, mp), ap), 1, 1);
  Tensor gout = Tensor::randn(out.shape(), gen);
  sum(mul(out, gout)).backward();
  return {
      out.to_floats(),          x.grad().to_floats(),    w.grad().to_floats(), b.grad().to_floats(),
      gamma.grad().to_floats(), beta.grad().to_floats(), rm.to_floats(),       rv.to_floats()};
}

TEST(Conv2dKernels, BitIdenticalAcrossThreadCounts) {
  testing::ThreadCountRestorer restore;
  for (const auto& s : shapes()) {
    const auto one = image_block_run(s, 1);
    for (int t : {2, 3}) EXPECT_EQ(one, image_block_run(s, t)) << s.name << " threads " << t;
  }
}

TEST(BatchNorm, TrainingUpdatesRunningStatisticsAsTorch) {
  Generator gen(3);
  Tensor x = Tensor::randn({4, 3, 2, 5}, gen, DType::F64);
  Tensor rm = Tensor::from_vector({0.5, -1.0, 2.0}, {3}, DType::F64);
  Tensor rv = Tensor::from_vector({1.5, 0.25, 3.0}, {3}, DType::F64);
  const auto rm0 = rm.to_vector(), rv0 = rv.to_vector();
  batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.3, 1e-5);
  const auto v = x.to_vector();
  const int64_t m = 4 * 10;
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0, ss = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t j = 0; j < 10; ++j) mean += v[(n * 3 + c) * 10 + j];
    mean /= m;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t j = 0; j < 10; ++j) ss += std::pow(v[(n * 3 + c) * 10 + j] - mean, 2);
    EXPECT_NEAR(rm.to_vector()[c], 0.7 * rm0[c] + 0.3 * mean, 1e-12);
    EXPECT_NEAR(rv.to_vector()[c], 0.7 * rv0[c] + 0.3 * ss / (m - 1), 1e-12);  // unbiased
  }
  // Eval mode reads them and leaves them alone.
  const auto rm1 = rm.to_vector();
  batch_norm(x, Tensor(), Tensor(), rm, rv, false, 0.3, 1e-5);
  EXPECT_EQ(rm.to_vector(), rm1);
  EXPECT_THROW(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), rm, rv, true), Error);
}

TEST(BatchNorm, FoldsIntoThePrecedingConvolution) {
  Generator gen(8);
  for (bool conv_bias : {false, true}) {
    for (const auto& s : shapes()) {
      const int64_t c = s.w[0];
      Tensor x = Tensor::randn(s.x, gen), w = Tensor::randn(s.w, gen);
      Tensor b = conv_bias ? Tensor::randn({c}, gen) : Tensor();
      Tensor gamma = Tensor::randn({c}, gen), beta = Tensor::randn({c}, gen);
      Tensor rm = Tensor::randn({c}, gen);
      Tensor rv = add(mul(Tensor::rand({c}, gen), 2.0), 0.1);
      Tensor ref = batch_norm(conv2d(x, w, b, s.o), gamma, beta, rm, rv, false, 0.1, 1e-5);
      const FoldedConv f = fold_batch_norm_into_conv(w, b, gamma, beta, rm, rv, 1e-5);
      Tensor got = conv2d(x, f.weight, f.bias, s.o);
      // Both sides round in f32; relative to the output's scale they agree within 1e-5.
      EXPECT_LT(max_rel_diff(got.to_floats(), ref.to_floats()), 1e-5)
          << s.name << " bias " << conv_bias;
    }
  }
}

}  // namespace
}  // namespace kiln
