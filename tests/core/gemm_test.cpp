#include "core/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/thread_pool.h"

namespace {

using kiln::IsaLevel;

// Restores the ISA override and thread count however a test exits.
struct StateGuard {
  int threads = kiln::num_threads();
  ~StateGuard() {
    kiln::set_isa_override(nullptr);
    kiln::set_num_threads(threads);
  }
};

std::vector<IsaLevel> available_levels() {
  std::vector<IsaLevel> out;
  for (IsaLevel l : {IsaLevel::kGeneric, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (l <= kiln::hardware_isa()) out.push_back(l);
  }
  return out;
}

struct Case {
  bool ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  int64_t pad_a, pad_b, pad_c;  // extra elements per row beyond the minimal leading dimension
};

// Runs sgemm and sgemm_reference on the same random data and checks every element against an
// error bound proportional to sum |a||b| (float summation of k terms), and that the padding
// columns of C are untouched.
void check_case(const Case& t, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const int64_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  const int64_t lda = a_cols + t.pad_a, ldb = b_cols + t.pad_b, ldc = t.n + t.pad_c;
  std::vector<float> a(std::max<int64_t>(1, a_rows * lda)), b(std::max<int64_t>(1, b_rows * ldb));
  std::vector<float> c(std::max<int64_t>(1, t.m * ldc));
  for (auto& v : a) v = dist(rng);
  for (auto& v : b) v = dist(rng);
  for (auto& v : c) v = dist(rng);
  if (t.beta == 0.0f) {  // beta == 0 must ignore C entirely, NaNs included
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) c[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  }
  std::vector<float> want = c, got = c;
  kiln::gemm::sgemm_reference(t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb,
                              t.beta, want.data(), ldc);
  kiln::gemm::sgemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb, t.beta,
                    got.data(), ldc);
  const float eps = std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < t.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const int64_t idx = i * ldc + j;
      if (j >= t.n) {
        ASSERT_EQ(std::memcmp(&got[idx], &c[idx], sizeof(float)), 0) << "padding written";
        continue;
      }
      double mag = 0;
      for (int64_t p = 0; p < t.k; ++p) {
        const float av = t.ta ? a[p * lda + i] : a[i * lda + p];
        const float bv = t.tb ? b[j * ldb + p] : b[p * ldb + j];
        mag += std::fabs(static_cast<double>(av) * bv);
      }
      const double c0 = t.beta == 0.0f ? 0.0 : std::fabs(t.beta * c[idx]);
      const double tol = 2.0 * (t.k + 2) * eps * (std::fabs(t.alpha) * mag + c0) + 1e-30;
      ASSERT_FALSE(std::isnan(got[idx])) << i << "," << j;
      ASSERT_NEAR(got[idx], want[idx], tol)
          << "ta=" << t.ta << " tb=" << t.tb << " m=" << t.m << " n=" << t.n << " k=" << t.k
          << " alpha=" << t.alpha << " beta=" << t.beta << " at " << i << "," << j;
    }
  }
}

TEST(Gemm, MatchesReferenceOverShapesLayoutsAndIsaLevels) {
  StateGuard guard;
  std::mt19937 rng(1234);
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (int64_t m : {0, 1, 7, 8, 9, 33}) {
      for (int64_t n : {0, 1, 15, 16, 17, 47, 48, 49, 100}) {
        for (int64_t k : {0, 1, 3, 255, 256, 257, 520}) {
          for (int tr = 0; tr < 4; ++tr) {
            check_case({bool(tr & 1), bool(tr & 2), m, n, k, 1.0f, 0.0f, 0, 0, 0}, rng);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// A column's bits do not depend on how wide C is: the micro-kernel skips the FMAs of empty
// 16-column vectors at a narrow right edge (e.g. 64 = 48 + 16), and that must not change any value.
TEST(Gemm, ColumnsDoNotDependOnMatrixWidth) {
  StateGuard guard;
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t m = 19, k = 300, wide = 100;
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (int tr = 0; tr < 4; ++tr) {
      const bool ta = tr & 1, tb = tr & 2;
      std::vector<float> a(m * k), b(k * wide), full(m * wide);
      for (auto& v : a) v = dist(rng);
      for (auto& v : b) v = dist(rng);
      // op(B) columns 0..n-1 of the wide B are the narrow B (row-major [k, n] or [n, k]).
      kiln::gemm::sgemm(ta, tb, m, wide, k, 1.f, a.data(), ta ? m : k, b.data(), tb ? k : wide, 0.f,
                        full.data(), wide);
      for (int64_t n : {1, 15, 16, 17, 32, 33, 48, 64, 81}) {
        std::vector<float> got(m * n);
        kiln::gemm::sgemm(ta, tb, m, n, k, 1.f, a.data(), ta ? m : k, b.data(), tb ? k : wide, 0.f,
                          got.data(), n);
        for (int64_t i = 0; i < m; ++i) {
          ASSERT_EQ(std::memcmp(&got[i * n], &full[i * wide], n * sizeof(float)), 0)
              << "n=" << n << " row " << i << " ta=" << ta << " tb=" << tb;
        }
      }
    }
  }
}

TEST(Gemm, AlphaBetaAndLeadingDimensions) {
  StateGuard guard;
  std::mt19937 rng(99);
  const float alphas[] = {1.0f, -0.5f, 2.0f, 0.0f};
  const float betas[] = {0.0f, 1.0f, -1.5f, 0.25f};
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    int i = 0;
    for (float alpha : alphas) {
      for (float beta : betas) {
        for (int tr = 0; tr < 4; ++tr, ++i) {
          const int64_t m = 1 + (i * 7) % 41, n = 1 + (i * 13) % 101, k = 1 + (i * 29) % 300;
          check_case(
              {bool(tr & 1), bool(tr & 2), m, n, k, alpha, beta, i % 5, (i * 3) % 7, (i * 5) % 9},
              rng);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(Gemm, LargerShapesMatchReference) {
  StateGuard guard;
  std::mt19937 rng(7);
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (int tr = 0; tr < 4; ++tr) {
      check_case({bool(tr & 1), bool(tr & 2), 130, 1000, 70, 1.0f, 0.5f, 3, 1, 2}, rng);
      check_case({bool(tr & 1), bool(tr & 2), 67, 203, 777, 0.75f, 0.0f, 0, 5, 0}, rng);
      if (HasFatalFailure()) return;
    }
  }
}

// Same inputs must give the same bits with 1 and 2 threads (and repeated calls), for every ISA
// level the machine has.
TEST(Gemm, BitIdenticalAcrossThreadCounts) {
  StateGuard guard;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  struct Shape {
    int64_t m, n, k;
  };
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (const Shape s : {Shape{128, 768, 768}, Shape{200, 1000, 600}, Shape{1024, 96, 300},
                          Shape{1000, 30, 200}, Shape{33, 3072, 513}}) {
      for (int tr = 0; tr < 4; ++tr) {
        const bool ta = tr & 1, tb = tr & 2;
        std::vector<float> a(s.m * s.k), b(s.k * s.n), c0(s.m * s.n);
        for (auto& v : a) v = dist(rng);
        for (auto& v : b) v = dist(rng);
        for (auto& v : c0) v = dist(rng);
        std::vector<std::vector<float>> outs;
        for (int threads : {1, 2, 1, 2}) {
          kiln::set_num_threads(threads);
          std::vector<float> c = c0;
          kiln::gemm::sgemm(ta, tb, s.m, s.n, s.k, 0.5f, a.data(), ta ? s.m : s.k, b.data(),
                            tb ? s.k : s.n, 1.0f, c.data(), s.n);
          outs.push_back(std::move(c));
        }
        for (size_t r = 1; r < outs.size(); ++r) {
          ASSERT_EQ(std::memcmp(outs[0].data(), outs[r].data(), outs[0].size() * sizeof(float)), 0)
              << "m=" << s.m << " n=" << s.n << " k=" << s.k << " tr=" << tr << " run " << r;
        }
      }
    }
  }
}

// bf16 GEMM vs its double-accumulating reference on the same bf16 inputs, every layout, odd k
// (k is consumed in pairs), edges, alpha/beta, padded leading dimensions, each ISA level.
TEST(Bf16Gemm, MatchesReference) {
  StateGuard guard;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::gemm::bf16gemm_backend());
    int i = 0;
    for (int64_t m : {1, 7, 8, 9, 40}) {
      for (int64_t n : {1, 16, 47, 49, 97}) {
        for (int64_t k : {0, 1, 2, 31, 32, 33, 255, 256, 257, 513}) {
          for (int tr = 0; tr < 4; ++tr, ++i) {
            const bool ta = tr & 1, tb = tr & 2;
            const float alpha = i % 3 == 0 ? 1.0f : -0.75f, beta = i % 4 == 0 ? 0.0f : 0.5f;
            const int64_t lda = (ta ? m : k) + i % 3, ldb = (tb ? k : n) + i % 2, ldc = n + i % 4;
            std::vector<uint16_t> a(std::max<int64_t>(1, (ta ? k : m) * lda));
            std::vector<uint16_t> b(std::max<int64_t>(1, (tb ? n : k) * ldb));
            for (auto& v : a) v = kiln::f32_to_bf16(dist(rng));
            for (auto& v : b) v = kiln::f32_to_bf16(dist(rng));
            std::vector<float> c(m * ldc);
            for (auto& v : c) v = dist(rng);
            std::vector<float> want = c, got = c;
            kiln::gemm::bf16gemm_reference(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb,
                                           beta, want.data(), ldc);
            kiln::gemm::bf16gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                 got.data(), ldc);
            for (int64_t r = 0; r < m; ++r) {
              for (int64_t j = 0; j < ldc; ++j) {
                const int64_t idx = r * ldc + j;
                if (j >= n) {
                  ASSERT_EQ(got[idx], c[idx]);
                  continue;
                }
                double mag = std::fabs(beta * c[idx]);
                for (int64_t p = 0; p < k; ++p) {
                  mag += std::fabs(alpha * kiln::bf16_to_f32(ta ? a[p * lda + r] : a[r * lda + p]) *
                                   kiln::bf16_to_f32(tb ? b[j * ldb + p] : b[p * ldb + j]));
                }
                const double tol = 2.0 * (k + 2) * 1.2e-7 * mag + 1e-30;
                ASSERT_NEAR(got[idx], want[idx], tol)
                    << "ta=" << ta << " tb=" << tb << " m=" << m << " n=" << n << " k=" << k;
              }
            }
          }
        }
      }
    }
  }
}

TEST(Bf16Gemm, BitIdenticalAcrossThreadCounts) {
  StateGuard guard;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t m = 128, n = 768, k = 771;
  for (int tr = 0; tr < 4; ++tr) {
    const bool ta = tr & 1, tb = tr & 2;
    std::vector<uint16_t> a(m * k), b(k * n);
    for (auto& v : a) v = kiln::f32_to_bf16(dist(rng));
    for (auto& v : b) v = kiln::f32_to_bf16(dist(rng));
    std::vector<float> c1(m * n), c2(m * n);
    kiln::set_num_threads(1);
    kiln::gemm::bf16gemm(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f,
                         c1.data(), n);
    kiln::set_num_threads(2);
    kiln::gemm::bf16gemm(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f,
                         c2.data(), n);
    ASSERT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0) << tr;
  }
}

// With k a multiple of the kernel's k step and A not transposed, the AMX kernel reads A's rows in
// place (micro_rows_a; a last panel of fewer than 16 rows packed): the same bits as the packed
// panel it would otherwise read, which the transposed layout (always packed) gives here.
TEST(Bf16Gemm, ARowsReadInPlaceGiveThePackedBits) {
  StateGuard guard;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::gemm::bf16gemm_backend());
    for (int64_t m : {16, 33, 40})
      for (int64_t k : {32, 256, 512}) {
        const int64_t n = 97, lda = k + 40;
        std::vector<uint16_t> a(m * lda), at(k * m), b(k * n);
        for (auto& v : a) v = kiln::f32_to_bf16(dist(rng));
        for (auto& v : b) v = kiln::f32_to_bf16(dist(rng));
        for (int64_t r = 0; r < m; ++r)
          for (int64_t p = 0; p < k; ++p) at[p * m + r] = a[r * lda + p];
        std::vector<float> c1(m * n, 0.25f), c2 = c1;
        kiln::gemm::bf16gemm(false, false, m, n, k, 0.5f, a.data(), lda, b.data(), n, 1.0f,
                             c1.data(), n);
        kiln::gemm::bf16gemm(true, false, m, n, k, 0.5f, at.data(), m, b.data(), n, 1.0f, c2.data(),
                             n);
        ASSERT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0)
            << "m=" << m << " k=" << k;
      }
  }
}

TEST(Gemm, DgemmMatchesNaiveLoop) {
  const int64_t m = 5, n = 7, k = 9;
  std::vector<double> a(m * k), b(k * n), c(m * n, 1.0);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.1 * double(i % 11) - 0.3;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.2 * double(i % 7) - 0.5;
  kiln::gemm::dgemm(false, false, m, n, k, 2.0, a.data(), k, b.data(), n, 0.5, c.data(), n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double want = 0.5;
      for (int64_t p = 0; p < k; ++p) want += 2.0 * a[i * k + p] * b[p * n + j];
      EXPECT_NEAR(c[i * n + j], want, 1e-12);
    }
  }
}

TEST(Gemm, BackendNameFollowsIsa) {
  StateGuard guard;
  const IsaLevel generic = IsaLevel::kGeneric;
  kiln::set_isa_override(&generic);
  EXPECT_STREQ(kiln::gemm::sgemm_backend(), "kiln-generic");
  kiln::set_isa_override(nullptr);
  if (kiln::active_isa() == IsaLevel::kAvx512) {
    EXPECT_STREQ(kiln::gemm::sgemm_backend(), "kiln-avx512");
  }
}

}  // namespace

// A pre-packed B must give exactly the bits of sgemm with the same operands: same kernel, same K
// blocks, same per-element order, whichever way A is read (in place or packed per task), for
// edge shapes, padded leading dimensions, alpha/beta, every ISA level and thread count.
TEST(GemmPackedB, BitIdenticalToSgemm) {
  StateGuard guard;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  struct Shape {
    int64_t m, n, k;
  };
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (const Shape s :
         {Shape{1, 1, 1}, Shape{7, 47, 255}, Shape{9, 49, 257}, Shape{128, 768, 768},
          Shape{130, 200, 600}, Shape{33, 3072, 513}, Shape{1000, 30, 20}, Shape{5, 2, 768},
          // One row (a decoder step): AVX2 sweeps several panels at once (micro_one_row).
          Shape{1, 1000, 769}, Shape{1, 197, 300}, Shape{1, 3073, 64},
          // A few rows (beams): the 4-row prefetching kernel; 768 x 768 is split over threads by
          // its weight bytes, not its flops.
          Shape{2, 200, 300}, Shape{3, 97, 50}, Shape{4, 768, 768}}) {
      for (int tr = 0; tr < 4; ++tr) {
        const bool ta = tr & 1, tb = tr & 2;
        const int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 5, ldc = s.n + 2;
        std::vector<float> a((ta ? s.k : s.m) * lda), b((tb ? s.n : s.k) * ldb), c0(s.m * ldc);
        for (auto& v : a) v = dist(rng);
        for (auto& v : b) v = dist(rng);
        for (auto& v : c0) v = dist(rng);
        const kiln::gemm::PackedB packed(tb, s.k, s.n, b.data(), ldb);
        for (float beta : {0.0f, 1.0f}) {
          std::vector<float> want = c0;
          kiln::gemm::sgemm(ta, tb, s.m, s.n, s.k, 0.75f, a.data(), lda, b.data(), ldb, beta,
                            want.data(), ldc);
          for (int threads : {1, 2, 3}) {
            kiln::set_num_threads(threads);
            std::vector<float> got = c0;
            kiln::gemm::sgemm_packed_b(ta, s.m, 0.75f, a.data(), lda, packed, beta, got.data(),
                                       ldc);
            ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                << "m=" << s.m << " n=" << s.n << " k=" << s.k << " ta=" << ta << " tb=" << tb
                << " beta=" << beta << " threads=" << threads;
          }
        }
        // Unpacking gives back op(B)^T exactly, whatever the source layout was.
        std::vector<float> back(s.n * s.k);
        packed.unpack_transposed(back.data());
        for (int64_t j = 0; j < s.n; ++j) {
          for (int64_t p = 0; p < s.k; ++p) {
            ASSERT_EQ(back[j * s.k + p], tb ? b[j * ldb + p] : b[p * ldb + j]) << j << "," << p;
          }
        }
      }
    }
  }
}

// The fused epilogue (bias, then GELU, then a residual add) gives the bits of the separate steps:
// bias pre-filled into C and accumulated onto, gelu over the whole array, then + residual.
TEST(GemmPackedB, EpilogueMatchesSeparateSteps) {
  StateGuard guard;
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    SCOPED_TRACE(kiln::isa_name(level));
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 3},
                           {1, 500, 300},
                           {3, 500, 300},
                           {130, 200, 600},
                           {37, 97, 257}}) {
      std::vector<float> a(m * k), w(n * k), bias(n), res(m * n);
      for (auto* v : {&a, &w, &bias, &res})
        for (auto& x : *v) x = dist(rng);
      const kiln::gemm::PackedB packed(true, k, n, w.data(), k);
      for (int variant = 0; variant < 4; ++variant) {
        const bool act = variant & 1, with_res = variant & 2;
        std::vector<float> want(m * n);
        for (int64_t i = 0; i < m; ++i) std::copy(bias.begin(), bias.end(), want.begin() + i * n);
        kiln::gemm::sgemm(false, true, m, n, k, 1.f, a.data(), k, w.data(), k, 1.f, want.data(), n);
        if (act) kiln::kernels::gelu_f32(want.data(), want.data(), m * n);
        if (with_res)
          for (int64_t i = 0; i < m * n; ++i) want[i] += res[i];
        kiln::gemm::Epilogue ep;
        ep.bias = bias.data();
        if (act) ep.activation = kiln::kernels::gelu_f32;
        if (with_res) {
          ep.residual = res.data();
          ep.ldr = n;
        }
        for (int threads : {1, 2}) {
          kiln::set_num_threads(threads);
          std::vector<float> got(m * n, std::numeric_limits<float>::quiet_NaN());
          kiln::gemm::sgemm_packed_b(false, m, 1.f, a.data(), k, packed, 0.f, got.data(), n, ep);
          ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << "m=" << m << " n=" << n << " k=" << k << " variant " << variant;
        }
      }
    }
  }
}
