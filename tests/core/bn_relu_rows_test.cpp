// The fused channels-last batch norm + ReLU kernels (core/kernels/bn_relu_rows.h) against the
// unfused ops: batch_norm (eval) -> relu, then avg_pool2d 2x2 or the global mean, on the same
// values laid out NCHW. The plain path computes each value with the same float operations as
// batch_norm_forward + relu, so it must match bit for bit; the AVX-512 path may contract
// x * scale + shift into an FMA (one rounding less), so it gets a tolerance. Strided rows (ldx >
// channels) and an odd-sized image (floor pooling) included.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/conv_ops.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/kernels/bn_relu_rows.h"
#include "core/ops.h"
#include "core/rng.h"

namespace kiln {
namespace {

using RowsFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const float*, float*,
                        int64_t);
using PoolFn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, const float*,
                        const float*, int64_t, int64_t, float*, int64_t);
using MeanFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const float*,
                        float*);
using ReluFn = void (*)(const float*, float*, int64_t);

struct Paths {
  RowsFn rows;
  PoolFn pool;
  MeanFn mean;
  ReluFn relu;
};

// One image, h x w pixels, c channels stored as rows of ldx floats, plus the eval batch norm.
struct Case {
  int64_t h = 5, w = 7, c = 19, ldx = 23;
  Tensor nchw;  // [1, c, h, w]
  std::vector<float> rows, scale, shift;
  Tensor gamma, beta, mean, var;
  double eps = 1e-5;

  Case() {
    Generator gen(11);
    nchw = Tensor::randn({1, c, h, w}, gen);
    gamma = Tensor::randn({c}, gen), beta = Tensor::randn({c}, gen);
    mean = Tensor::randn({c}, gen);
    var = add(mul(Tensor::rand({c}, gen), 2.0), 0.1);
    const float* x = nchw.data<float>();
    rows.assign(static_cast<size_t>(h * w * ldx), -7.0f);  // padding columns are never read
    for (int64_t p = 0; p < h * w; ++p)
      for (int64_t k = 0; k < c; ++k) rows[p * ldx + k] = x[k * h * w + p];
    const float* g = gamma.data<float>();
    const float* b = beta.data<float>();
    const float* m = mean.data<float>();
    const float* v = var.data<float>();
    for (int64_t k = 0; k < c; ++k) {
      // As core/ops/batch_norm.cpp and batch_norm_forward derive them.
      const float invstd = static_cast<float>(1.0 / std::sqrt(double(v[k]) + eps));
      scale.push_back(invstd * g[k]);
      shift.push_back(b[k] - m[k] * scale.back());
    }
  }
  Tensor bn_relu() const { return relu(batch_norm(nchw, gamma, beta, mean, var, false, 0.1, eps)); }
};

// Largest |got - want| over the NCHW tensor `want` [1, c, H, W] and pixel rows `got` (ldo apart).
double max_diff(const Tensor& want, const std::vector<float>& got, int64_t ldo) {
  const int64_t c = want.size(1), hw = want.size(2) * want.size(3);
  const float* wp = want.data<float>();
  double d = 0;
  for (int64_t p = 0; p < hw; ++p)
    for (int64_t k = 0; k < c; ++k)
      d = std::max(d, std::abs(double(got[p * ldo + k]) - wp[k * hw + p]));
  return d;
}

void check(const Paths& f, double tol) {
  const Case t;
  const Tensor want = t.bn_relu().contiguous();
  // Rows [1, h*w) in two calls, the output with its own stride.
  const int64_t ldo = t.c + 3;
  std::vector<float> got(static_cast<size_t>(t.h * t.w * ldo), 0.0f);
  f.rows(t.rows.data(), t.ldx, 4, t.c, t.scale.data(), t.shift.data(), got.data(), ldo);
  f.rows(t.rows.data() + 4 * t.ldx, t.ldx, t.h * t.w - 4, t.c, t.scale.data(), t.shift.data(),
         got.data() + 4 * ldo, ldo);
  EXPECT_LE(max_diff(want, got, ldo), tol);

  Pool2dOptions p;
  p.kernel = {2, 2}, p.stride = {2, 2};
  const Tensor pooled = avg_pool2d(want, p).contiguous();  // floor: 2 x 3 of 5 x 7
  const int64_t opix = (t.h / 2) * (t.w / 2);
  std::vector<float> pgot(static_cast<size_t>(opix * t.c), 0.0f);
  f.pool(t.rows.data(), t.ldx, t.h, t.w, t.c, t.scale.data(), t.shift.data(), 0, 1, pgot.data(),
         t.c);
  f.pool(t.rows.data(), t.ldx, t.h, t.w, t.c, t.scale.data(), t.shift.data(), 1, opix - 1,
         pgot.data() + t.c, t.c);
  EXPECT_LE(max_diff(pooled, pgot, t.c), tol + 1e-6);  // the op sums in another order

  const Tensor mean = adaptive_avg_pool2d(want, 1, 1).contiguous();
  std::vector<float> mgot(static_cast<size_t>(t.c));
  f.mean(t.rows.data(), t.ldx, t.h * t.w, t.c, t.scale.data(), t.shift.data(), mgot.data());
  EXPECT_LE(max_diff(mean, mgot, t.c), tol + 1e-6);

  const std::vector<float> x = {-2.0f, -0.0f, 0.0f, 1.5f, -1e-30f, 3e30f, 7.0f};
  std::vector<float> y(x.size());
  f.relu(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] > 0 ? x[i] : 0.0f);
}

TEST(BnReluRows, PlainPathMatchesBatchNormThenRelu) {
  check({kernels::plain::bn_relu_rows, kernels::plain::bn_relu_avgpool2_rows,
         kernels::plain::bn_relu_mean_rows, kernels::plain::relu_f32},
        0.0);
}

TEST(BnReluRows, Avx512PathMatchesBatchNormThenRelu) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check({kernels::avx512::bn_relu_rows, kernels::avx512::bn_relu_avgpool2_rows,
         kernels::avx512::bn_relu_mean_rows, kernels::avx512::relu_f32},
        2e-6);
}

TEST(BnReluRows, DispatchedPathMatchesBatchNormThenRelu) {
  check({kernels::bn_relu_rows, kernels::bn_relu_avgpool2_rows, kernels::bn_relu_mean_rows,
         kernels::relu_f32},
        2e-6);
}

using RowsBf16Fn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const float*,
                            float*, int64_t, uint16_t*, int64_t);

// bn_relu_rows_bf16 = the same path's bn_relu_rows, then kiln::f32_to_bf16, bit for bit, with
// and without the f32 copy, on strided rows split over two calls.
void check_bf16(RowsFn rows, RowsBf16Fn rows_bf16) {
  const Case t;
  const int64_t n = t.h * t.w, ldo = t.c + 3, ldh = t.c + 5;
  std::vector<float> want(static_cast<size_t>(n * ldo), 0.0f);
  rows(t.rows.data(), t.ldx, n, t.c, t.scale.data(), t.shift.data(), want.data(), ldo);
  for (const bool with_f32 : {false, true}) {
    std::vector<float> out(static_cast<size_t>(n * ldo), 0.0f);
    std::vector<uint16_t> half(static_cast<size_t>(n * ldh), 0xdead);
    for (const auto [r0, m] : {std::pair<int64_t, int64_t>{0, 3}, {3, n - 3}})
      rows_bf16(t.rows.data() + r0 * t.ldx, t.ldx, m, t.c, t.scale.data(), t.shift.data(),
                with_f32 ? out.data() + r0 * ldo : nullptr, ldo, half.data() + r0 * ldh, ldh);
    int64_t rounded_away = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t k = 0; k < t.c; ++k) {
        const float v = want[p * ldo + k];
        ASSERT_EQ(half[p * ldh + k], f32_to_bf16(v)) << p << " " << k;
        if (with_f32) ASSERT_EQ(out[p * ldo + k], v);
        rounded_away += bf16_to_f32(half[p * ldh + k]) != v;
      }
    EXPECT_GT(rounded_away, n * t.c / 4);  // the values really were rounded
    EXPECT_EQ(half[t.c], 0xdead);          // nothing beyond a row's channels
  }
}

TEST(BnReluRows, Bf16RowsAreTheF32RowsRounded) {
  check_bf16(kernels::plain::bn_relu_rows, kernels::plain::bn_relu_rows_bf16);
  check_bf16(kernels::bn_relu_rows, kernels::bn_relu_rows_bf16);
  if (hardware_isa() == IsaLevel::kAvx512)
    check_bf16(kernels::avx512::bn_relu_rows, kernels::avx512::bn_relu_rows_bf16);
}

}  // namespace
}  // namespace kiln
