// Kernel paths added for speed agree with each other and with a double-precision reference:
// the plain and AVX-512 builds of the GELU loops both stay within 1e-5 (relative) of x * Phi(x)
// computed with std::erfc in double, far tails included (the rounding of x^2 in exp(-x^2 / 2)
// limits the tail to ~3e-6). A sum over the leading dims of a contiguous tensor (bias gradients)
// reads it in place and gives the same bits as the transposing path it replaced; sum_of_squares
// gives the bits of sum(mul(x, x)) without the temporary. The vectorised Philox blocks and the
// dropout keep decisions built on them equal the one-block-at-a-time philox4x32.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/attention_rows.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/kernels/norm_row.h"
#include "core/kernels/philox_blocks.h"
#include "core/kernels/softmax_row.h"
#include "core/ops.h"
#include "core/ops/dropout_keep.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "tests/core/thread_count_restorer.h"

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

// The attention softmax row kernel, both builds: within 1e-6 (relative, plus the rounding of
// x - max to f32) of a double-precision softmax for row lengths around the 16-lane blocking, with
// masked (-inf) keys giving exactly 0, an all-masked or empty row giving zeros (and false), and
// large score ranges.
void check_softmax_row(bool (*fn)(float*, int64_t)) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-30.f, 30.f);
  for (int64_t n : {0, 1, 2, 15, 16, 17, 31, 33, 64, 127, 128, 129, 1000}) {
    for (int masked_every : {0, 3}) {
      std::vector<float> row(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j)
        row[j] = masked_every != 0 && j % masked_every == 1 ? kNegInf : dist(rng);
      const std::vector<float> in = row;
      double mx = -std::numeric_limits<double>::infinity(), sum = 0;
      for (float v : in) mx = std::max<double>(mx, v);
      for (float v : in) sum += std::exp(static_cast<double>(v) - mx);
      const bool any = n > 0;
      EXPECT_EQ(fn(row.data(), n), any) << n;
      for (int64_t j = 0; j < n; ++j) {
        if (in[j] == kNegInf) {
          EXPECT_EQ(row[j], 0.0f) << n << " " << j;
          continue;
        }
        // x - max is rounded to f32 (as in every f32 softmax): relative error |x - max| * 2^-24
        // on top of the exp polynomial's and the final scaling's few ulps.
        const double arg = static_cast<double>(in[j]) - mx;
        const double want = std::exp(arg) / sum;
        const double tol = want * (1e-6 + std::fabs(arg) * 0x1p-24) + 1e-38;
        EXPECT_NEAR(row[j], want, tol) << "n=" << n << " j=" << j;
      }
    }
  }
  std::vector<float> none(40, kNegInf);
  EXPECT_FALSE(fn(none.data(), 40));
  for (float v : none) EXPECT_EQ(v, 0.0f);
}

TEST(PerfPaths, SoftmaxRowPlainMatchesDoubleReference) {
  check_softmax_row(kernels::softmax_row_f32_plain);
}

TEST(PerfPaths, SoftmaxRowAvx512MatchesDoubleReference) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_softmax_row(kernels::softmax_row_f32_avx512);
}

// The few-row attention loops (a decoder step's query against its cached keys), both builds:
// scores and weighted sums within a few f32 roundings of double-precision sums, on head sizes
// around the 16-lane blocking (tails included), key rows with a stride wider than the head,
// one key and no key. Each sum is bounded by its terms' magnitudes, so the check cannot pass on
// a wrong sum that happens to be small.
using ScoresFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, int64_t, int64_t,
                          float, float*);
using WeightedFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*);
// The double sum of term(0 .. n - 1) and the sum of the terms' magnitudes (the error scale).
template <typename Term>
std::pair<double, double> sum_and_magnitude(int64_t n, Term term) {
  double sum = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double t = term(i);
    sum += t;
    mag += std::fabs(t);
  }
  return {sum, mag};
}

void check_attention_rows(ScoresFn scores, WeightedFn weighted) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (int64_t d : {1, 15, 16, 17, 32, 64, 80, 128}) {
    for (int64_t lk : {0, 1, 7, 33, 128}) {
      for (int64_t lq : {1, 3}) {
        const int64_t ldq = d + 3, ldk = d + 5, ldv = d + 2;
        std::vector<float> q(static_cast<size_t>(lq * ldq)), k(static_cast<size_t>(lk * ldk + 1)),
            v(static_cast<size_t>(lk * ldv + 1));
        for (float& x : q) x = dist(rng);
        for (float& x : k) x = dist(rng);
        for (float& x : v) x = dist(rng);
        const float scale = 0.125f;
        std::vector<float> p(static_cast<size_t>(lq * lk) + 1, -7.0f);
        scores(q.data(), ldq, k.data(), ldk, lq, lk, d, scale, p.data());
        for (int64_t i = 0; i < lq; ++i) {
          for (int64_t j = 0; j < lk; ++j) {
            const auto [want, mag] = sum_and_magnitude(
                d, [&](int64_t t) { return static_cast<double>(q[i * ldq + t]) * k[j * ldk + t]; });
            EXPECT_NEAR(p[i * lk + j], scale * want, scale * mag * 1e-6 + 1e-30)
                << "d=" << d << " lk=" << lk << " i=" << i << " j=" << j;
          }
        }
        EXPECT_EQ(p[lq * lk], -7.0f) << "wrote past the scores";
        // Probabilities need not sum to 1 here: the loop is a plain weighted sum.
        for (float& x : p) x = std::fabs(dist(rng));
        const int64_t dv = d;
        std::vector<float> o(static_cast<size_t>(lq * dv), 99.0f);
        weighted(p.data(), lq, lk, v.data(), ldv, dv, o.data());
        for (int64_t i = 0; i < lq; ++i) {
          for (int64_t c = 0; c < dv; ++c) {
            const auto [want, mag] = sum_and_magnitude(
                lk, [&](int64_t j) { return static_cast<double>(p[i * lk + j]) * v[j * ldv + c]; });
            EXPECT_NEAR(o[i * dv + c], want, mag * 1e-6 * (1 + lk / 16.0) + 1e-30)
                << "d=" << d << " lk=" << lk << " i=" << i << " c=" << c;
          }
        }
      }
    }
  }
}

TEST(PerfPaths, AttentionRowsPlainMatchDoubleReference) {
  check_attention_rows(kernels::attention_scores_rows_plain,
                       kernels::attention_weighted_rows_plain);
}

TEST(PerfPaths, AttentionRowsAvx512MatchDoubleReference) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_attention_rows(kernels::attention_scores_rows_avx512,
                       kernels::attention_weighted_rows_avx512);
}

// The attention op sends few query rows through those loops and more through the GEMM: a
// decoder's step-by-step outputs (one query row each, against the keys so far) equal the rows of
// one causal pass over all of them within f32 rounding.
TEST(PerfPaths, AttentionFewRowsMatchFullPass) {
  Generator gen(5);
  const int64_t B = 2, H = 3, L = 9, D = 20;
  const Tensor q = Tensor::randn({B, H, L, D}, gen), k = Tensor::randn({B, H, L, D}, gen),
               v = Tensor::randn({B, H, L, D}, gen);
  AttentionOptions causal;
  causal.causal = true;
  const Tensor full = scaled_dot_product_attention(q, k, v, causal);
  for (int64_t t = 0; t < L; ++t) {
    const Tensor step = scaled_dot_product_attention(slice(q, 2, t, t + 1), slice(k, 2, 0, t + 1),
                                                     slice(v, 2, 0, t + 1), causal);
    const Tensor want = slice(full, 2, t, t + 1).contiguous();
    const Tensor got = step.contiguous();
    const float* a = got.data<float>();
    const float* b = want.data<float>();
    for (int64_t i = 0; i < got.numel(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f) << t << " " << i;
  }
}

// The normalisation row loop, both builds: mean and rstd within 1e-6 (relative) of a double
// computation, y within a few f32 roundings of (x - mean) * rstd * w + b in double, for layer_norm
// and rms_norm, with and without w and b, rows around the 16-lane blocking, an offset mean
// (cancellation) and a constant row (var 0, rstd = 1 / sqrt(eps)).
void check_norm_row(kernels::NormRowStats (*fn)(const float*, const float*, const float*, float*,
                                                int64_t, double, bool)) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (int64_t d : {1, 15, 16, 17, 100, 768}) {
    for (bool rms : {false, true}) {
      for (int params = 0; params < 4; ++params) {
        for (float offset : {0.0f, 100.0f}) {
          std::vector<float> x(d), w(d), b(d), y(d + 1, -5.0f);
          for (float& v : x) v = offset + dist(rng);
          for (float& v : w) v = dist(rng);
          for (float& v : b) v = dist(rng);
          const float* wp = params & 1 ? w.data() : nullptr;
          const float* bp = params & 2 ? b.data() : nullptr;
          const double eps = 1e-5;
          const kernels::NormRowStats st = fn(x.data(), wp, bp, y.data(), d, eps, rms);
          double mean = 0, var = 0;
          if (!rms) {
            for (float v : x) mean += v;
            mean /= d;
          }
          for (float v : x) var += (v - mean) * (v - mean);
          var /= d;
          const double rstd = 1.0 / std::sqrt(var + eps);
          SCOPED_TRACE("d=" + std::to_string(d) + " rms=" + std::to_string(rms) +
                       " params=" + std::to_string(params) + " offset=" + std::to_string(offset));
          EXPECT_NEAR(st.mean, mean, std::fabs(mean) * 1e-6 + 1e-7);
          // x - mean is rounded to f32 before squaring: relative error ~ |mean| 2^-24 / sigma.
          EXPECT_NEAR(st.rstd, rstd, rstd * (1e-6 + std::fabs(mean) * 0x1p-22));
          for (int64_t j = 0; j < d; ++j) {
            const double xh = (x[j] - mean) * rstd;
            const double want = xh * (wp ? w[j] : 1.0) + (bp ? b[j] : 0.0);
            const double scale = std::fabs(xh * (wp ? w[j] : 1.0)) + (bp ? std::fabs(b[j]) : 0.0);
            // mean rounded to f32 moves x - mean by up to |mean| 2^-24, times rstd and w.
            const double shift = std::fabs(mean) * 0x1p-23 * rstd * (wp ? std::fabs(w[j]) : 1.0);
            EXPECT_NEAR(y[j], want, scale * 4e-7 + shift + 1e-7) << j;
          }
          EXPECT_EQ(y[d], -5.0f) << "wrote past the row";
        }
      }
    }
  }
  std::vector<float> flat(32, 3.0f), out(32);
  const kernels::NormRowStats st = fn(flat.data(), nullptr, nullptr, out.data(), 32, 1e-5, false);
  EXPECT_FLOAT_EQ(st.mean, 3.0f);
  EXPECT_NEAR(st.rstd, 1.0 / std::sqrt(1e-5), 1e-2);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(PerfPaths, NormRowPlainMatchesDoubleReference) {
  check_norm_row(kernels::norm_row_f32_plain);
}

TEST(PerfPaths, NormRowAvx512MatchesDoubleReference) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_norm_row(kernels::norm_row_f32_avx512);
}

// The transposing path is still taken for inputs that are not contiguous, so a transposed copy
// viewed back (same values, other strides) gives the old result to compare with bit for bit.
TEST(PerfPaths, SumOverLeadingDimsInPlaceMatchesTransposingPathBits) {
  const testing::ThreadCountRestorer restore;
  Generator gen(7);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
    bool keepdim, mean;
  };
  const Case cases[] = {{{1024, 300}, {0}, false, false},    {{8, 128, 200}, {0, 1}, false, false},
                        {{8, 128, 200}, {0, 1}, true, true}, {{3, 5, 129}, {0}, false, true},
                        {{1, 77}, {0}, false, false},        {{0, 9}, {0}, false, false}};
  for (DType dt : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      // Magnitudes spread over about 2^+-30, so that f64 sums of f32 terms round, and a different
      // order of additions would show in the bits.
      const Tensor x =
          mul(Tensor::randn(c.shape, gen, dt), exp(mul(Tensor::randn(c.shape, gen, dt), 7.0)));
      // Same values, last two dims stored transposed: not contiguous, so the old path runs.
      const Tensor strided = transpose(transpose(x, -1, -2).contiguous(), -1, -2);
      if (x.size(-2) > 1 && x.size(-1) > 1) {
        ASSERT_FALSE(strided.is_contiguous());
      }
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor fast = c.mean ? mean(x, c.dims, c.keepdim) : sum(x, c.dims, c.keepdim);
        const Tensor old =
            c.mean ? mean(strided, c.dims, c.keepdim) : sum(strided, c.dims, c.keepdim);
        ASSERT_EQ(fast.shape(), old.shape());
        const Tensor a = fast.to(DType::F64), b = old.to(DType::F64);
        for (int64_t i = 0; i < a.numel(); ++i) {
          const double u = a.data<double>()[i], v = b.data<double>()[i];
          EXPECT_TRUE(u == v || (std::isnan(u) && std::isnan(v)))
              << x.describe() << " element " << i << ": " << u << " vs " << v;
        }
      }
    }
  }
}

TEST(PerfPaths, SumOfSquaresMatchesSumOfProductBits) {
  const testing::ThreadCountRestorer restore;
  Generator gen(11);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int64_t n : {0, 1, 4097, 8192, 8193, 100000}) {
      const Tensor x = mul(Tensor::randn({n}, gen, dt), exp(mul(Tensor::randn({n}, gen, dt), 7.0)));
      const double want = sum(mul(x, x)).item();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        EXPECT_EQ(sum_of_squares(x).item(), want) << "n=" << n << " " << x.describe();
      }
    }
  }
  // Strided input: summed in its logical (row-major) order, as sum(mul(...)) does.
  const Tensor mt = transpose(Tensor::randn({300, 70}, gen), 0, 1);
  EXPECT_EQ(sum_of_squares(mt).item(), sum(mul(mt, mt)).item());
  Tensor w = Tensor::randn({4}, gen);
  w.set_requires_grad(true);
  EXPECT_THROW(sum_of_squares(w), std::exception);
}

// The full reduction's documented order (core/ops/reduce.cpp): up to 8192 elements one f64 chain,
// above, f64 chains over fixed 4096-element blocks, then the block sums in order. Written out
// here so that the interleaved block loop is checked against it bit for bit.
TEST(PerfPaths, FullSumFollowsItsBlockOrderBits) {
  const testing::ThreadCountRestorer restore;
  Generator gen(5);
  // f64 input: the sums come back unrounded, so a change of order would show (an f32 result
  // rounds most of it away).
  for (int64_t n : {8193, 4096 * 8, 4096 * 8 + 1, 4096 * 17 + 5, 100000, 1 << 20}) {
    const Tensor x = mul(Tensor::randn({n}, gen, DType::F64),
                         exp(mul(Tensor::randn({n}, gen, DType::F64), 7.0)));
    const double* p = x.data<double>();
    double total = 0, squares = 0;
    for (int64_t lo = 0; lo < n; lo += 4096) {
      double b = 0, b2 = 0;
      for (int64_t i = lo; i < std::min<int64_t>(n, lo + 4096); ++i) {
        b += p[i];
        b2 += p[i] * p[i];
      }
      total += b;
      squares += b2;
    }
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      EXPECT_EQ(sum(x).item(), total) << "n=" << n;
      EXPECT_EQ(sum_of_squares(x).item(), squares) << "n=" << n;
    }
  }
}

// mul_ (gradient clipping scales in place) and the tensor-times-scalar loop of the element maps
// against mul on a copy, f32 and f64, contiguous or not.
TEST(PerfPaths, MulInPlaceMatchesMulBits) {
  Generator gen(9);
  for (DType dt : {DType::F32, DType::F64}) {  // the floating dtypes element maps compute in
    const Tensor base = Tensor::randn({37, 129}, gen).to(dt);
    for (bool strided : {false, true}) {
      const Tensor src = strided ? transpose(base, 0, 1) : base;
      const Tensor want = mul(src, 0.3183).to(DType::F64);
      Tensor dst = strided ? transpose(base.clone(), 0, 1) : base.clone();
      mul_(dst, 0.3183);
      const Tensor got = dst.to(DType::F64);
      ASSERT_EQ(got.shape(), want.shape());
      const Tensor gc = got.contiguous(), wc = want.contiguous();
      for (int64_t i = 0; i < gc.numel(); ++i)
        ASSERT_EQ(gc.data<double>()[i], wc.data<double>()[i]) << dtype_name(dt) << " " << i;
      // The scalar loop itself, against the same products taken one by one.
      EXPECT_EQ(mul(base, 0.5).to(DType::F64).data<double>()[5],
                mul(select(select(base, 0, 0), 0, 5), 0.5).to(DType::F64).item());
    }
  }
  Tensor w = Tensor::randn({4}, gen);
  w.set_requires_grad(true);
  EXPECT_THROW(mul_(w, 2.0), std::exception);
}

void check_philox_blocks(void (*fn)(uint64_t, uint64_t, uint64_t, int64_t, uint32_t*)) {
  const uint64_t starts[] = {0, 5, 0xFFFFFFFBull, 0x123456789ull, ~uint64_t{0} - 20};
  for (uint64_t key : {uint64_t{0}, uint64_t{42}, uint64_t{0xDEADBEEF12345678ull}}) {
    for (uint64_t hi : {uint64_t{0}, uint64_t{2}, uint64_t{0x100000001ull}}) {
      for (uint64_t lo : starts) {
        for (int64_t blocks : {0, 1, 15, 16, 17, 40, 1000}) {
          std::vector<uint32_t> out(4 * blocks + 4, 0xABABABABu);
          fn(key, hi, lo, blocks, out.data());
          for (int64_t b = 0; b < blocks; ++b) {
            const auto want = philox4x32(key, hi, lo + static_cast<uint64_t>(b));
            for (int w = 0; w < 4; ++w)
              ASSERT_EQ(out[4 * b + w], want[w]) << "key " << key << " hi " << hi << " lo " << lo
                                                 << " block " << b << " word " << w;
          }
          for (int w = 0; w < 4; ++w) EXPECT_EQ(out[4 * blocks + w], 0xABABABABu);  // no overrun
        }
      }
    }
  }
}

TEST(PerfPaths, PhiloxBlocksPlainMatchesPhilox4x32) {
  check_philox_blocks(kernels::philox4x32_blocks_plain);
}

TEST(PerfPaths, PhiloxBlocksAvx512MatchesPhilox4x32) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_philox_blocks(kernels::philox4x32_blocks_avx512);
}

// for_each_dropout_keep against its definition, counter by counter: starts that are not block
// aligned, runs longer than one batch of blocks, and a counter range that crosses 2^32 blocks.
TEST(PerfPaths, DropoutKeepMatchesItsPerCounterDefinition) {
  const uint64_t seed = 1234;
  for (uint64_t first : {uint64_t{0}, uint64_t{3}, uint64_t{257}, (uint64_t{1} << 34) - 301}) {
    for (int64_t n : {0, 1, 5, 255, 256, 257, 1000, 5000}) {
      for (float p : {0.1f, 0.5f}) {
        int64_t calls = 0;
        for_each_dropout_keep(seed, first, n, p, [&](int64_t i, bool keep) {
          ASSERT_EQ(i, calls++);
          const uint64_t c = first + static_cast<uint64_t>(i);
          const bool want = u32_to_unit_float(philox4x32(seed, 0, c >> 2)[c & 3]) >= p;
          ASSERT_EQ(keep, want) << "first " << first << " i " << i;
        });
        EXPECT_EQ(calls, n);
      }
    }
  }
}

}  // namespace
}  // namespace kiln
