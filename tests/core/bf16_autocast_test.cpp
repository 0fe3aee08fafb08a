// bf16 autocast (core/autocast.h): linear and matmul under Bf16AutocastGuard, forward and both
// backward GEMMs, checked
//  - tightly against an f64 reference computed from the bf16-rounded operands (the only error
//    left is f32 accumulation: bounded by k * 2^-23 * sum |a||b|, asserted at 4 * k * 2^-24),
//  - loosely against plain f32 (bf16 rounding of both operands, 2^-8 relative each: asserted at
//    2^-6 * sum |a||b| per element, i.e. the error a bf16 GEMM is expected to have),
// plus: weights rounded while packed (same bits as a rounded copy, and no copy kept), one bf16
// copy shared by linears on the same input until it changes, the conversion loops against scalar
// rounding, bits independent of the thread count, the mode restored by the guard, f64 untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/gemm.h"
#include "core/kernels/bf16_convert.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/storage.h"
#include "tests/core/thread_count_restorer.h"

namespace kiln {
namespace {

// Row-major [r, c] values of a tensor rounded to bf16 and back, in f64.
std::vector<double> rounded(const Tensor& t) {
  std::vector<double> out;
  for (float f : t.contiguous().to_floats()) out.push_back(bf16_to_f32(f32_to_bf16(f)));
  return out;
}

// op(A)[m,k] op(B)[k,n] in f64, with |.| sums for the error bound.
struct Ref {
  std::vector<double> value, magnitude;
};
Ref ref_gemm(const std::vector<double>& a, bool ta, const std::vector<double>& b, bool tb,
             int64_t m, int64_t n, int64_t k) {
  Ref r{std::vector<double>(m * n), std::vector<double>(m * n)};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) {
        const double x = ta ? a[p * m + i] : a[i * k + p];
        const double y = tb ? b[j * k + p] : b[p * n + j];
        r.value[i * n + j] += x * y;
        r.magnitude[i * n + j] += std::abs(x * y);
      }
  return r;
}

void expect_close(const Tensor& got, const Ref& want, double rel, const char* what) {
  const std::vector<float> g = got.contiguous().to_floats();
  ASSERT_EQ(g.size(), want.value.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_LE(std::abs(g[i] - want.value[i]), rel * want.magnitude[i] + 1e-30)
        << what << " element " << i << ": " << g[i] << " vs " << want.value[i];
}

struct LinearCase {
  int64_t rows = 37, in = 70, out = 53;  // odd sizes: tile edges and an odd K
  Tensor x, w, b, g;
  LinearCase() {
    Generator gen(515);
    x = Tensor::randn({rows, in}, gen).set_requires_grad(true);
    w = mul(Tensor::randn({out, in}, gen), 0.2).detach().set_requires_grad(true);
    b = Tensor::randn({out}, gen).set_requires_grad(true);
    g = Tensor::randn({rows, out}, gen);
  }
  // Forward output and (dx, dw, db) of linear under the given mode.
  std::vector<Tensor> run(bool bf16) const {
    x.zero_grad(), w.zero_grad(), b.zero_grad();
    Tensor y;
    {
      Bf16AutocastGuard autocast(bf16);
      y = linear(x, w, b);
    }
    y.backward(g);  // outside the scope: the op recorded its mode
    return {y.detach(), x.grad(), w.grad(), b.grad()};
  }
};

TEST(Bf16Autocast, LinearMatchesF64OfRoundedOperands) {
  const LinearCase c;
  const std::vector<Tensor> r = c.run(true);
  const double tight =
      4.0 * c.in * std::ldexp(1.0, -24);  // k is in, out or rows: in is the largest
  const std::vector<double> xr = rounded(c.x), wr = rounded(c.w), gr = rounded(c.g);
  // y = x w^T + b: the bias is added in f32 before accumulation (beta = 1 onto the bias).
  Ref y = ref_gemm(xr, false, wr, true, c.rows, c.out, c.in);
  const std::vector<float> bias = c.b.to_floats();
  for (int64_t i = 0; i < c.rows; ++i)
    for (int64_t j = 0; j < c.out; ++j) {
      y.value[i * c.out + j] += bias[j];
      y.magnitude[i * c.out + j] += std::abs(bias[j]);
    }
  expect_close(r[0], y, tight, "y");
  expect_close(r[1], ref_gemm(gr, false, wr, false, c.rows, c.in, c.out), tight, "dx");
  expect_close(r[2], ref_gemm(gr, true, xr, false, c.out, c.in, c.rows), tight, "dw");
  // The bias gradient is an f32 sum, exactly as without autocast.
  EXPECT_EQ(r[3].to_floats(), c.run(false)[3].to_floats());
}

TEST(Bf16Autocast, LinearTracksF32WithinBf16Rounding) {
  const LinearCase c;
  const std::vector<Tensor> r = c.run(true), f = c.run(false);
  auto f64 = [](const Tensor& t) {
    std::vector<double> v;
    for (float x : t.contiguous().to_floats()) v.push_back(x);
    return v;
  };
  const double loose = std::ldexp(1.0, -6);
  Ref y = ref_gemm(f64(c.x), false, f64(c.w), true, c.rows, c.out, c.in);
  y.value = f64(f[0]);
  expect_close(r[0], y, loose, "y vs f32");
  Ref dx = ref_gemm(f64(c.g), false, f64(c.w), false, c.rows, c.in, c.out);
  dx.value = f64(f[1]);
  expect_close(r[1], dx, loose, "dx vs f32");
  Ref dw = ref_gemm(f64(c.g), true, f64(c.x), false, c.out, c.in, c.rows);
  dw.value = f64(f[2]);
  expect_close(r[2], dw, loose, "dw vs f32");
  // And it is not simply f32: the rounding shows.
  EXPECT_NE(r[0].to_floats(), f[0].to_floats());
}

TEST(Bf16Autocast, BatchedMatmulMatchesF64OfRoundedOperands) {
  Generator gen(99);
  const int64_t bsz = 3, m = 9, k = 33, n = 17;
  Tensor a = Tensor::randn({bsz, m, k}, gen).set_requires_grad(true);
  Tensor b = transpose(Tensor::randn({bsz, n, k}, gen), 1, 2).detach().set_requires_grad(true);
  Tensor g = Tensor::randn({bsz, m, n}, gen);
  Tensor y;
  {
    Bf16AutocastGuard autocast;
    y = matmul(a, b);
  }
  y.backward(g);
  const double tight = 4.0 * k * std::ldexp(1.0, -24);
  for (int64_t i = 0; i < bsz; ++i) {
    const std::vector<double> ar = rounded(select(a, 0, i)), br = rounded(select(b, 0, i)),
                              gr = rounded(select(g, 0, i));
    expect_close(select(y, 0, i), ref_gemm(ar, false, br, false, m, n, k), tight, "y");
    expect_close(select(a.grad(), 0, i), ref_gemm(gr, false, br, true, m, k, n), tight, "da");
    expect_close(select(b.grad(), 0, i), ref_gemm(ar, true, gr, false, k, n, m), tight, "db");
  }
}

TEST(Bf16Autocast, GuardRestoresModeAndLeavesF64Alone) {
  EXPECT_FALSE(bf16_autocast_enabled());
  {
    Bf16AutocastGuard on;
    EXPECT_TRUE(bf16_autocast_enabled());
    {
      Bf16AutocastGuard off(false);
      EXPECT_FALSE(bf16_autocast_enabled());
    }
    EXPECT_TRUE(bf16_autocast_enabled());
    // f64 ops are never rounded: same bits as outside the scope.
    Generator gen(3);
    Tensor a = Tensor::randn({5, 7}, gen, DType::F64), w = Tensor::randn({4, 7}, gen, DType::F64);
    const std::vector<double> inside = linear(a, w, Tensor()).to_vector();
    Bf16AutocastGuard off(false);
    EXPECT_EQ(inside, linear(a, w, Tensor()).to_vector());
  }
  EXPECT_FALSE(bf16_autocast_enabled());
}

// bf16gemm_f32b rounds B while packing it: C must have exactly the bits of bf16gemm on a rounded
// copy of B, for every layout, K blocks of 256 with an odd tail, a partial 48-column panel and a
// padded ldb, on each ISA level (AMX or vdpbf16ps packing, and the convert+sgemm fallback).
TEST(Bf16Autocast, F32OperandRoundedWhilePackedGivesSameBits) {
  struct IsaRestorer {
    ~IsaRestorer() { set_isa_override(nullptr); }
  } restore;
  Generator gen(21);
  const int64_t m = 37, n = 53, k = 300;
  for (IsaLevel level : {IsaLevel::kGeneric, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (level > hardware_isa()) continue;
    set_isa_override(&level);
    SCOPED_TRACE(gemm::bf16gemm_backend());
    for (int tr = 0; tr < 4; ++tr) {
      const bool ta = tr & 1, tb = tr & 2;
      const int64_t lda = ta ? m : k, ldb = (tb ? k : n) + 3;
      std::vector<uint16_t> a(static_cast<size_t>((ta ? k : m) * lda));
      for (auto& v : a) v = f32_to_bf16(static_cast<float>(gen.normal()));
      std::vector<float> b(static_cast<size_t>((tb ? n : k) * ldb));
      for (auto& v : b) v = static_cast<float>(gen.normal());
      std::vector<uint16_t> b16(b.size());
      for (size_t i = 0; i < b.size(); ++i) b16[i] = f32_to_bf16(b[i]);
      std::vector<float> want(m * n, 0.5f), got = want;
      gemm::bf16gemm(ta, tb, m, n, k, 0.75f, a.data(), lda, b16.data(), ldb, 1.0f, want.data(), n);
      gemm::bf16gemm_f32b(ta, tb, m, n, k, 0.75f, a.data(), lda, b.data(), ldb, 1.0f, got.data(),
                          n);
      ASSERT_EQ(got, want) << "ta=" << ta << " tb=" << tb;
    }
  }
}

// The bytes a linear leaves allocated (output and saved tensors) under bf16 autocast: no bf16
// copy of the weight, 512 KiB here, may be among them (the forward rounds it while packing and
// the backward saves an alias of the f32 weight).
TEST(Bf16Autocast, LinearKeepsNoBf16CopyOfItsWeight) {
  Generator gen(12);
  Tensor w = mul(Tensor::randn({512, 512}, gen), 0.05).detach().set_requires_grad(true);
  Tensor x = Tensor::randn({2, 512}, gen).set_requires_grad(true);
  Bf16AutocastGuard autocast;
  const size_t before = allocator::stats().bytes_in_use;
  Tensor y = linear(x, w, Tensor());
  const size_t held = allocator::stats().bytes_in_use - before;  // y (4 KiB) + bf16 x (2 KiB)
  EXPECT_LT(held, 64u << 10) << "a linear under bf16 kept " << held << " bytes";
  y.backward(Tensor::randn({2, 512}, gen));
  EXPECT_TRUE(w.grad().defined() && x.grad().defined());
}

// bf16_input shares one copy between consecutive calls on the same view of the same storage at
// the same version, converts again after an in-place write or for another view, does not keep the
// f32 storage alive, and shares nothing outside a guard.
TEST(Bf16Autocast, InputCopySharedUntilTheInputChanges) {
  Generator gen(11);
  Tensor x = Tensor::randn({4, 6}, gen);
  {
    const Tensor a = bf16_input(x), b = bf16_input(x);
    EXPECT_NE(a.raw_data(), b.raw_data());  // no guard, no sharing
  }
  Bf16AutocastGuard autocast;
  const long owners = x.storage().use_count();
  const Tensor first = bf16_input(x);
  EXPECT_EQ(x.storage().use_count(), owners);
  EXPECT_EQ(bf16_input(x).raw_data(), first.raw_data());
  const Tensor rows = bf16_input(slice(x, 0, 1, 3));  // another view of the same storage
  EXPECT_NE(rows.raw_data(), first.raw_data());
  EXPECT_EQ(rows.shape(), Shape({2, 6}));
  EXPECT_NE(bf16_input(x).raw_data(), first.raw_data());  // one entry: rows replaced it
  const Tensor again = bf16_input(x);
  mul_(x, 2.0);  // an in-place write bumps the version: the copy is stale
  const Tensor written = bf16_input(x);
  EXPECT_NE(written.raw_data(), again.raw_data());
  const std::vector<float> xf = x.to_floats();
  const uint16_t* bits = written.data<uint16_t>();
  for (size_t i = 0; i < xf.size(); ++i) ASSERT_EQ(bits[i], f32_to_bf16(xf[i])) << i;
}

// Q, K and V style: three linears on one input hold one bf16 copy of it between them (3 x 32 KiB
// before), and their gradients have the bits of three separate scopes (no sharing).
TEST(Bf16Autocast, LinearsOnOneInputShareItsBf16Copy) {
  Generator gen(13);
  Tensor x = Tensor::randn({64, 256}, gen).set_requires_grad(true);
  std::vector<Tensor> ws;
  for (int i = 0; i < 3; ++i)
    ws.push_back(mul(Tensor::randn({16, 256}, gen), 0.1).detach().set_requires_grad(true));
  const Tensor g = Tensor::randn({64, 16}, gen);
  auto run = [&](bool shared) {
    for (Tensor& w : ws) w.zero_grad();
    x.zero_grad();
    std::vector<Tensor> ys;
    size_t held = 0;
    {
      std::optional<Bf16AutocastGuard> scope;
      if (shared) scope.emplace(true);
      const size_t before = allocator::stats().bytes_in_use;
      for (const Tensor& w : ws) {
        std::optional<Bf16AutocastGuard> own;
        if (!shared) own.emplace(true);
        ys.push_back(linear(x, w, Tensor()));
      }
      held = allocator::stats().bytes_in_use - before;  // 3 x 4 KiB outputs + 32 KiB bf16 x
    }
    for (const Tensor& y : ys) y.backward(g);
    std::vector<float> all = x.grad().to_floats();
    for (const Tensor& w : ws) {
      const std::vector<float> v = w.grad().to_floats();
      all.insert(all.end(), v.begin(), v.end());
    }
    return std::make_pair(held, all);
  };
  const auto [shared_bytes, shared_grads] = run(true);
  const auto [separate_bytes, separate_grads] = run(false);
  EXPECT_LT(shared_bytes, 64u << 10);
  EXPECT_GT(separate_bytes, 96u << 10);  // the check above can fail: without sharing it does
  EXPECT_EQ(shared_grads, separate_grads);
}

TEST(Bf16Autocast, ConversionKernelMatchesScalarRounding) {
  // Ties to even, carries into the exponent, infinities, NaN (kept quiet), denormals, signs.
  std::vector<float> v = {0.0f,     -0.0f,     1.0f, 1.00390625f, 1.01171875f, 3.3895314e38f,
                          INFINITY, -INFINITY, NAN,  1e-40f,      -2.5e-39f,   65504.0f};
  Generator gen(4);
  for (int i = 0; i < 1000; ++i) v.push_back(static_cast<float>(gen.normal() * 1e3));
  std::vector<uint16_t> out(v.size());
  kernels::f32_to_bf16_array(v.data(), out.data(), static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(out[i], f32_to_bf16(v[i])) << v[i];
}

TEST(Bf16Autocast, ConversionBuildsAndBlocksMatchScalarRounding) {
  std::vector<float> v = {0.0f,     -0.0f, 1.00390625f, 1.01171875f, 3.3895314e38f,
                          INFINITY, NAN,   -NAN,        1e-40f,      -2.5e-39f};
  Generator gen(5);
  for (int i = 0; i < 300; ++i) v.push_back(static_cast<float>(gen.normal() * 1e3));
  const auto n = static_cast<int64_t>(v.size());
  std::vector<uint16_t> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = f32_to_bf16(v[i]);
  std::vector<uint16_t> out(v.size());
  kernels::f32_to_bf16_row_plain(v.data(), out.data(), n);
  EXPECT_EQ(out, want);
  if (hardware_isa() == IsaLevel::kAvx512) {
    std::fill(out.begin(), out.end(), 0);
    kernels::f32_to_bf16_row_avx512(v.data(), out.data(), n);
    EXPECT_EQ(out, want);
  }
  // A 3 x 7 block from rows 11 apart into rows 9 apart; the gaps stay untouched.
  std::vector<uint16_t> dst(3 * 9, 0xabcd);
  kernels::f32_to_bf16_block(v.data() + 2, 11, 3, 7, dst.data(), 9);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 9; ++c)
      ASSERT_EQ(dst[r * 9 + c], c < 7 ? want[2 + r * 11 + c] : 0xabcd) << r << "," << c;
}

TEST(Bf16Autocast, BitsDoNotDependOnThreadCount) {
  testing::ThreadCountRestorer restore;
  Generator gen(8);
  // Large enough for the GEMM and the conversion to split across threads.
  Tensor x = Tensor::randn({256, 192}, gen).set_requires_grad(true);
  Tensor w = mul(Tensor::randn({160, 192}, gen), 0.1).detach().set_requires_grad(true);
  Tensor g = Tensor::randn({256, 160}, gen);
  std::vector<std::vector<float>> runs;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    x.zero_grad(), w.zero_grad();
    Tensor y;
    {
      Bf16AutocastGuard autocast;
      y = linear(x, w, Tensor());
    }
    y.backward(g);
    std::vector<float> all = y.to_floats();
    for (const Tensor& t2 : {x.grad(), w.grad()}) {
      const std::vector<float> v = t2.to_floats();
      all.insert(all.end(), v.begin(), v.end());
    }
    runs.push_back(all);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

}  // namespace
}  // namespace kiln
