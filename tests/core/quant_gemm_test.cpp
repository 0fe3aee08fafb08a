// Quantized linear layers (core/qgemm.h): the reference against f64 maths, every kernel path
// against the reference (int8: equal bits; q4: within the float-summation bound), the epilogue
// against the separate ops, bit-identical results across thread counts, and edge rows.
#include "core/qgemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/kernels/qgemm_kernels.h"
#include "core/thread_pool.h"

namespace {

using kiln::IsaLevel;
using kiln::quant::Format;

struct StateGuard {
  int threads = kiln::num_threads();
  ~StateGuard() {
    kiln::set_isa_override(nullptr);
    kiln::quant::set_int8_amx_override(nullptr);
    kiln::quant::set_q4_q8_override(nullptr);
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

struct Problem {
  Format f;
  int64_t m, n, k, ldx, ldy;
  std::vector<float> x, w, bias, residual;
  std::vector<uint8_t> q;
};

Problem make_problem(Format f, int64_t m, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Problem p{f, m, n, k, k + 3, n + 2, {}, {}, {}, {}, {}};
  p.x.resize(m * p.ldx);
  p.w.resize(n * k);
  p.bias.resize(n);
  p.residual.resize(m * n);
  for (auto& v : p.x) v = dist(rng);
  for (auto& v : p.w) v = 0.05f * dist(rng);
  for (auto& v : p.bias) v = dist(rng);
  for (auto& v : p.residual) v = dist(rng);
  p.q.resize(n * kiln::quant::row_bytes(f, k));
  kiln::quant::quantize_rows(f, p.w.data(), n, k, k, p.q.data());
  return p;
}

std::vector<float> run_fast(const Problem& p, const kiln::gemm::Epilogue& ep = {}) {
  kiln::quant::PackedQuantB b(p.f, p.n, p.k, p.q.data());
  std::vector<float> y(p.m * p.ldy, -7.0f);
  kiln::quant::linear_quant(p.m, p.x.data(), p.ldx, b, y.data(), p.ldy, ep);
  return y;
}

std::vector<float> run_reference(const Problem& p, const kiln::gemm::Epilogue& ep = {}) {
  std::vector<float> y(p.m * p.ldy, -7.0f);
  kiln::quant::linear_quant_reference(p.f, p.m, p.n, p.k, p.x.data(), p.ldx, p.q.data(), y.data(),
                                      p.ldy, ep);
  return y;
}

// sum_k |x| |w| per output, for float-summation bounds. For q4_1 |w| is taken as |d q| + |m|:
// the kernels sum the two terms separately (y = d sum q x + m sum x), and their rounding errors
// scale with those magnitudes, which can exceed |d q + m|.
std::vector<double> magnitudes(const Problem& p) {
  std::vector<float> wf(p.n * p.k);
  kiln::quant::dequantize_rows(p.f, p.q.data(), p.n, p.k, wf.data(), p.k);
  if (p.f == Format::Q4_1) {
    const size_t rb = kiln::quant::row_bytes(p.f, p.k);
    for (int64_t j = 0; j < p.n; ++j) {
      for (int64_t t = 0; t < p.k; ++t) {
        const uint8_t* blk = p.q.data() + j * rb + (t / 32) * 20;
        uint16_t mh;
        std::memcpy(&mh, blk + 2, 2);
        const float mn = kiln::f16_to_f32(mh);
        wf[j * p.k + t] = std::fabs(wf[j * p.k + t] - mn) + std::fabs(mn);
      }
    }
  }
  std::vector<double> mag(p.m * p.n);
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j)
      for (int64_t t = 0; t < p.k; ++t)
        mag[i * p.n + j] += std::fabs(static_cast<double>(p.x[i * p.ldx + t]) * wf[j * p.k + t]);
  return mag;
}

std::vector<float> run_q8_reference(const Problem& p, const kiln::gemm::Epilogue& ep = {}) {
  std::vector<float> y(p.m * p.ldy, -7.0f);
  kiln::quant::linear_q4_q8_reference(p.f, p.m, p.n, p.k, p.x.data(), p.ldx, p.q.data(), y.data(),
                                      p.ldy, ep);
  return y;
}

// Equal bits, and the row padding untouched.
void expect_bits(const Problem& p, const std::vector<float>& got, const std::vector<float>& want) {
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.ldy; ++j) {
      const float g = got[i * p.ldy + j], w = want[i * p.ldy + j];
      ASSERT_EQ(std::memcmp(&g, &w, 4), 0) << i << "," << j << ": " << g << " vs " << w;
    }
  }
}

// Compares fast and reference outputs: int8 bit for bit, q4 within (k + 8) eps sum|x w| (any
// float summation order), plus the row padding untouched.
void expect_matches(const Problem& p, const std::vector<float>& got, const std::vector<float>& want,
                    const std::vector<double>& mag) {
  const double eps = std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.ldy; ++j) {
      const float g = got[i * p.ldy + j], w = want[i * p.ldy + j];
      if (j >= p.n) {
        ASSERT_EQ(g, -7.0f) << "padding written at " << i << "," << j;
      } else if (p.f == Format::Int8) {
        ASSERT_EQ(std::memcmp(&g, &w, 4), 0) << i << "," << j << ": " << g << " vs " << w;
      } else {
        ASSERT_LE(std::fabs(static_cast<double>(g) - w), (p.k + 8) * eps * mag[i * p.n + j] + 1e-30)
            << i << "," << j;
      }
    }
  }
}

// The int8 reference against f64 maths on the dequantized weights: the only error is the
// activation rounding (half a step of the row's scale per element) plus the float epilogue.
TEST(QuantGemm, Int8ReferenceAgainstF64) {
  const Problem p = make_problem(Format::Int8, 5, 7, 45, 1);
  const auto y = run_reference(p);
  std::vector<float> wf(p.n * p.k);
  kiln::quant::dequantize_rows(p.f, p.q.data(), p.n, p.k, wf.data(), p.k);
  for (int64_t i = 0; i < p.m; ++i) {
    float lo = 0, hi = 0;
    for (int64_t t = 0; t < p.k; ++t) {
      lo = std::min(lo, p.x[i * p.ldx + t]);
      hi = std::max(hi, p.x[i * p.ldx + t]);
    }
    const double step = (hi - lo) / 255.0;
    for (int64_t j = 0; j < p.n; ++j) {
      double exact = 0, bound = 0;
      for (int64_t t = 0; t < p.k; ++t) {
        exact += static_cast<double>(p.x[i * p.ldx + t]) * wf[j * p.k + t];
        bound += 0.5 * step * std::fabs(wf[j * p.k + t]) * 1.001;
      }
      EXPECT_LE(std::fabs(y[i * p.ldy + j] - exact), bound + 1e-6 * std::fabs(exact)) << i << j;
    }
  }
}

// q4 reference: f64 sums of the dequantized weights, rounded once.
TEST(QuantGemm, Q4ReferenceAgainstF64) {
  for (Format f : {Format::Q4_0, Format::Q4_1}) {
    const Problem p = make_problem(f, 3, 5, 70, 2);
    const auto y = run_reference(p);
    std::vector<float> wf(p.n * p.k);
    kiln::quant::dequantize_rows(p.f, p.q.data(), p.n, p.k, wf.data(), p.k);
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        double exact = 0;
        for (int64_t t = 0; t < p.k; ++t) {
          exact += static_cast<double>(p.x[i * p.ldx + t]) * wf[j * p.k + t];
        }
        EXPECT_EQ(y[i * p.ldy + j], static_cast<float>(exact));
      }
    }
  }
}

// Every ISA path, odd shapes (k not a multiple of 4 or 32, n not a multiple of 16), m = 1 (a
// decoder step), a few rows (the q4 GEMV path) and more rows than that.
TEST(QuantGemm, KernelsMatchReference) {
  StateGuard guard;
  // n = 300 (19 panels of 16) reaches the kernels' widest tiles (8 panels for 1-2 rows) and
  // their remainders.
  const int64_t shapes[][3] = {{1, 37, 77},  {1, 70, 64},  {1, 300, 45}, {2, 300, 45},
                               {3, 17, 33},  {4, 300, 45}, {8, 50, 100}, {7, 300, 37},
                               {13, 37, 77}, {21, 100, 5}, {2, 1, 1},    {1, 33, 21}};
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    for (Format f : kiln::quant::kAllFormats) {
      for (const auto& s : shapes) {
        SCOPED_TRACE(std::string(kiln::isa_name(level)) + " " + kiln::quant::format_name(f) + " " +
                     kiln::quant::qgemm_backend(f) + " m=" + std::to_string(s[0]) +
                     " n=" + std::to_string(s[1]) + " k=" + std::to_string(s[2]));
        const Problem p = make_problem(f, s[0], s[1], s[2], 11);
        if (f != Format::Int8 && kiln::quant::q4_quantizes_activations(p.m)) {
          expect_bits(p, run_fast(p), run_q8_reference(p));
        } else {
          expect_matches(p, run_fast(p), run_reference(p), magnitudes(p));
        }
      }
    }
  }
}

// The q4 x q8 few-row arithmetic against f64 maths on the dequantized weights: the activation
// rounding (at most half a step, max|x_block| / 254, per element) plus float rounding. And the
// f32 few-row kernel, with the q8 path turned off, still within its own float bound.
TEST(QuantGemm, Q4Q8ReferenceAgainstF64) {
  StateGuard guard;
  const double eps = std::numeric_limits<float>::epsilon();
  for (Format f : {Format::Q4_0, Format::Q4_1}) {
    for (const auto& s :
         std::vector<std::array<int64_t, 3>>{{1, 40, 77}, {3, 33, 256}, {8, 17, 96}}) {
      SCOPED_TRACE(std::string(kiln::quant::format_name(f)) + " m=" + std::to_string(s[0]));
      const Problem p = make_problem(f, s[0], s[1], s[2], 23);
      const auto got = run_q8_reference(p);
      std::vector<float> wf(p.n * p.k);
      kiln::quant::dequantize_rows(p.f, p.q.data(), p.n, p.k, wf.data(), p.k);
      const auto mag = magnitudes(p);
      for (int64_t i = 0; i < p.m; ++i) {
        for (int64_t j = 0; j < p.n; ++j) {
          double want = 0, act_err = 0;
          for (int64_t b = 0; b * 32 < p.k; ++b) {
            double amax = 0;
            for (int64_t t = b * 32; t < std::min<int64_t>(p.k, b * 32 + 32); ++t)
              amax = std::max(amax, std::fabs(static_cast<double>(p.x[i * p.ldx + t])));
            for (int64_t t = b * 32; t < std::min<int64_t>(p.k, b * 32 + 32); ++t) {
              want += static_cast<double>(p.x[i * p.ldx + t]) * wf[j * p.k + t];
              act_err += amax / 254.0 * std::fabs(static_cast<double>(wf[j * p.k + t]));
            }
          }
          const double tol = act_err * 1.0001 + (p.k + 8) * eps * mag[i * p.n + j] + 1e-30;
          ASSERT_LE(std::fabs(got[i * p.ldy + j] - want), tol) << i << "," << j;
          // Not vacuous: the activation rounding is visible, far above float rounding.
          ASSERT_LT((p.k + 8) * eps * mag[i * p.n + j], act_err);
        }
      }
      // A convolution's call (Q4FewRows::kF32) takes the f32 kernel whatever the CPU.
      kiln::quant::PackedQuantB b(p.f, p.n, p.k, p.q.data());
      std::vector<float> conv_rows(p.m * p.ldy, -7.0f);
      kiln::quant::linear_quant(p.m, p.x.data(), p.ldx, b, conv_rows.data(), p.ldy, {},
                                kiln::quant::Q4FewRows::kF32);
      bool off = false;
      kiln::quant::set_q4_q8_override(&off);
      EXPECT_FALSE(kiln::quant::q4_quantizes_activations(p.m));
      const auto f32_kernel = run_fast(p);
      expect_matches(p, f32_kernel, run_reference(p), mag);
      expect_bits(p, conv_rows, f32_kernel);
      kiln::quant::set_q4_q8_override(nullptr);
    }
  }
}

// Many rows, where int8 products run on AMX tiles when the CPU has them: the tile kernel gives
// the reference's bits, as the vector kernel does with AMX turned off. The shapes cover a row
// block of one and of two 16-row tiles, a last strip of one panel, k not a whole 64-k chunk (and
// more than one chunk), and epilogues with bias and residual on partial tiles.
TEST(QuantGemm, Int8ManyRowsOnEveryKernel) {
  StateGuard guard;
  if (std::string(kiln::quant::qgemm_backend(Format::Int8)).find("amx") == std::string::npos) {
    GTEST_LOG_(INFO) << "no AMX int8 on this CPU: only the vector kernel is compared";
  }
  const int64_t shapes[][3] = {{9, 16, 64},    {16, 33, 65},  {17, 47, 200}, {32, 32, 128},
                               {33, 300, 130}, {70, 96, 768}, {45, 20, 3},   {128, 65, 260}};
  for (bool amx : {true, false}) {
    kiln::quant::set_int8_amx_override(&amx);
    for (const auto& s : shapes) {
      SCOPED_TRACE(std::string(kiln::quant::qgemm_backend(Format::Int8)) +
                   " m=" + std::to_string(s[0]) + " n=" + std::to_string(s[1]) +
                   " k=" + std::to_string(s[2]));
      const Problem p = make_problem(Format::Int8, s[0], s[1], s[2], 17);
      expect_matches(p, run_fast(p), run_reference(p), {});
      kiln::gemm::Epilogue ep;
      ep.bias = p.bias.data();
      ep.residual = p.residual.data();
      ep.ldr = p.n;
      expect_matches(p, run_fast(p, ep), run_reference(p, ep), {});
    }
  }
}

// The fused epilogue gives the bits of the separate ops: y + bias, gelu, + residual.
TEST(QuantGemm, EpilogueMatchesSeparateOps) {
  StateGuard guard;
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    for (Format f : kiln::quant::kAllFormats) {
      for (int64_t m : {1, 4, 19}) {
        SCOPED_TRACE(std::string(kiln::isa_name(level)) + " " + kiln::quant::format_name(f) +
                     " m=" + std::to_string(m));
        const Problem p = make_problem(f, m, 53, 70, 5);
        const auto plain = run_fast(p);
        for (int variant = 0; variant < 3; ++variant) {
          kiln::gemm::Epilogue ep;
          ep.bias = p.bias.data();
          if (variant >= 1) ep.activation = kiln::kernels::gelu_f32;
          if (variant != 1) {
            ep.residual = p.residual.data();
            ep.ldr = p.n;
          }
          const auto fused = run_fast(p, ep);
          const auto ref_fused = run_reference(p, ep);
          for (int64_t i = 0; i < m; ++i) {
            std::vector<float> row(plain.begin() + i * p.ldy, plain.begin() + i * p.ldy + p.n);
            for (int64_t j = 0; j < p.n; ++j) row[j] = row[j] + p.bias[j];
            if (ep.activation != nullptr) ep.activation(row.data(), row.data(), p.n);
            if (ep.residual != nullptr) {
              for (int64_t j = 0; j < p.n; ++j) row[j] = row[j] + p.residual[i * p.n + j];
            }
            for (int64_t j = 0; j < p.n; ++j) {
              ASSERT_EQ(fused[i * p.ldy + j], row[j]) << "variant " << variant << " " << i << j;
              if (f == Format::Int8) {
                ASSERT_EQ(ref_fused[i * p.ldy + j], row[j]);
              } else if (kiln::quant::q4_quantizes_activations(m)) {
                ASSERT_EQ(run_q8_reference(p, ep)[i * p.ldy + j], row[j]);
              }
            }
          }
        }
      }
    }
  }
}

// Bit-identical for 1, 2 and 3 threads, on shapes large enough to be split.
TEST(QuantGemm, ThreadCountInvariant) {
  StateGuard guard;
  // Each shape has 2 m n k >= 4e6, the size from which the work is split over threads.
  const int64_t shapes[][3] = {{1, 4000, 520}, {5, 1000, 420}, {40, 200, 300}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    // A cheap generator: these weights are large and only the equality across threads matters.
    uint32_t state = 1;
    auto next = [&] {
      state = state * 1664525u + 1013904223u;
      return static_cast<float>(static_cast<int32_t>(state)) * 0x1p-31f;
    };
    std::vector<float> x(m * k), w(n * k), bias(n);
    for (auto& v : x) v = next();
    for (auto& v : w) v = 0.05f * next();
    for (auto& v : bias) v = next();
    kiln::gemm::Epilogue ep;
    ep.bias = bias.data();
    for (Format f : kiln::quant::kAllFormats) {
      std::vector<uint8_t> q(n * kiln::quant::row_bytes(f, k));
      kiln::quant::quantize_rows(f, w.data(), n, k, k, q.data());
      const kiln::quant::PackedQuantB b(f, n, k, q.data());
      std::vector<float> one(m * n), many(m * n);
      kiln::set_num_threads(1);
      kiln::quant::linear_quant(m, x.data(), k, b, one.data(), n, ep);
      for (int t : {2, 3}) {
        kiln::set_num_threads(t);
        kiln::quant::linear_quant(m, x.data(), k, b, many.data(), n, ep);
        ASSERT_EQ(std::memcmp(one.data(), many.data(), one.size() * 4), 0)
            << kiln::quant::format_name(f) << " m=" << m << " threads=" << t;
      }
    }
  }
}

// Several weights on one x (attention's query, key and value): each output has the bits of
// linear_quant on its own, for every format, with few rows (decoder steps), VNNI-sized and AMX-
// sized row counts, on 2 threads (the products share one parallel region), with each its own
// epilogue (bias, GELU, residual) and its own output stride; an empty weight (n = 0) is skipped.
// Mixed formats or input sizes are refused.
TEST(QuantGemm, SharedInputMatchesSeparateCalls) {
  StateGuard guard;
  kiln::set_num_threads(2);
  for (Format f : kiln::quant::kAllFormats) {
    for (int64_t m : {1, 3, 8, 40}) {
      const int64_t k = 200;
      const int64_t ns[] = {300, 37, 0, 520};
      const Problem x = make_problem(f, m, 8, k, 41);
      std::vector<Problem> ws;
      std::vector<std::unique_ptr<kiln::quant::PackedQuantB>> packed;
      std::vector<kiln::quant::QuantLinearOut> outs;
      std::vector<std::vector<float>> ys;
      for (int64_t i = 0; i < 4; ++i) {
        ws.push_back(make_problem(f, m, ns[i], k, 50 + static_cast<uint32_t>(i)));
        packed.push_back(
            std::make_unique<kiln::quant::PackedQuantB>(f, ns[i], k, ws.back().q.data()));
      }
      for (int64_t i = 0; i < 4; ++i) {
        ys.emplace_back(static_cast<size_t>(m * (ns[i] + 5)), -3.0f);
        kiln::quant::QuantLinearOut o;
        o.w = packed[i].get();
        o.ldy = ns[i] + 5;
        if (i != 1) o.epilogue.bias = ws[i].bias.data();
        if (i == 0) o.epilogue.activation = kiln::kernels::gelu_f32;
        if (i == 3) {
          o.epilogue.residual = ws[i].residual.data();
          o.epilogue.ldr = ns[i];
        }
        outs.push_back(o);
      }
      for (int64_t i = 0; i < 4; ++i) outs[i].y = ys[i].data();
      kiln::quant::linear_quant_shared_input(m, x.x.data(), x.ldx, outs);
      for (int64_t i = 0; i < 4; ++i) {
        std::vector<float> alone(ys[i].size(), -3.0f);
        kiln::quant::linear_quant(m, x.x.data(), x.ldx, *packed[i], alone.data(), outs[i].ldy,
                                  outs[i].epilogue);
        EXPECT_EQ(std::memcmp(alone.data(), ys[i].data(), alone.size() * 4), 0)
            << kiln::quant::format_name(f) << " m=" << m << " weight " << i;
      }
    }
  }
  const Problem a = make_problem(Format::Int8, 2, 16, 64, 1),
                b = make_problem(Format::Q4_0, 2, 16, 64, 2),
                c = make_problem(Format::Int8, 2, 16, 96, 3);
  const kiln::quant::PackedQuantB pa(Format::Int8, 16, 64, a.q.data()),
      pb(Format::Q4_0, 16, 64, b.q.data()), pc(Format::Int8, 16, 96, c.q.data());
  std::vector<float> y(64);
  EXPECT_THROW(kiln::quant::linear_quant_shared_input(
                   2, a.x.data(), a.ldx, {{&pa, y.data(), 16, {}}, {&pb, y.data(), 16, {}}}),
               kiln::Error);
  EXPECT_THROW(kiln::quant::linear_quant_shared_input(
                   2, a.x.data(), a.ldx, {{&pa, y.data(), 16, {}}, {&pc, y.data(), 16, {}}}),
               kiln::Error);
  EXPECT_THROW(kiln::quant::linear_quant_shared_input(2, a.x.data(), a.ldx, {}), kiln::Error);
}

// All-zero activation rows and all-zero weight rows give exact zeros (plus bias).
TEST(QuantGemm, ZeroRows) {
  for (Format f : kiln::quant::kAllFormats) {
    Problem p = make_problem(f, 3, 20, 40, 4);
    for (int64_t t = 0; t < p.k; ++t) {
      p.x[1 * p.ldx + t] = 0.0f;
      p.w[5 * p.k + t] = 0.0f;
    }
    kiln::quant::quantize_rows(f, p.w.data(), p.n, p.k, p.k, p.q.data());
    const auto y = run_fast(p);
    for (int64_t j = 0; j < p.n; ++j) EXPECT_EQ(y[1 * p.ldy + j], 0.0f) << j;
    for (int64_t i = 0; i < p.m; ++i) EXPECT_EQ(y[i * p.ldy + 5], 0.0f) << i;
  }
}

// A non-finite activation makes its whole output row non-finite (int8: NaN, as documented;
// q4: IEEE arithmetic) and leaves the other rows as they were.
TEST(QuantGemm, NonFiniteInputs) {
  for (Format f : kiln::quant::kAllFormats) {
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      Problem p = make_problem(f, 3, 20, 40, 6);
      const auto clean = run_fast(p);
      p.x[1 * p.ldx + 7] = bad;
      const auto y = run_fast(p);
      const auto yr = run_reference(p);
      for (int64_t j = 0; j < p.n; ++j) {
        if (f == Format::Int8) {
          EXPECT_TRUE(std::isnan(y[1 * p.ldy + j])) << j;
          EXPECT_TRUE(std::isnan(yr[1 * p.ldy + j])) << j;
        } else {
          EXPECT_FALSE(std::isfinite(y[1 * p.ldy + j])) << j;
        }
        EXPECT_EQ(y[0 * p.ldy + j], clean[0 * p.ldy + j]);
        EXPECT_EQ(y[2 * p.ldy + j], clean[2 * p.ldy + j]);
      }
    }
  }
}

TEST(QuantGemm, PackedUnpacksToCanonicalRows) {
  StateGuard guard;
  for (IsaLevel level : available_levels()) {
    kiln::set_isa_override(&level);
    for (Format f : kiln::quant::kAllFormats) {
      const Problem p = make_problem(f, 1, 37, 77, 8);
      kiln::quant::PackedQuantB b(f, p.n, p.k, p.q.data());
      std::vector<uint8_t> back(p.q.size());
      b.unpack(back.data());
      EXPECT_EQ(back, p.q) << kiln::quant::format_name(f);
      EXPECT_GE(b.bytes(), p.q.size() / 2);
    }
  }
}

TEST(QuantGemm, BadShapesAreErrors) {
  std::vector<uint8_t> q(16);
  EXPECT_THROW(kiln::quant::PackedQuantB(Format::Int8, -1, 4, q.data()), kiln::Error);
  EXPECT_THROW(kiln::quant::PackedQuantB(Format::Int8, 1, 100000, q.data()), kiln::Error);
}

// The AVX-512 q8 block quantizer gives the plain one's bytes and block parameters: random rows,
// exact ties (x * 127 / max landing on .5), zero, denormal, NaN and infinite blocks.
TEST(QuantGemm, Q8BlockQuantizersAgree) {
  if (kiln::hardware_isa() < IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512";
  namespace qk = kiln::quant::kernels;
  std::mt19937 rng(31);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  const int64_t kblocks = 7, rows = 3;
  std::vector<float> x(rows * kblocks * 32);
  for (auto& v : x) v = dist(rng);
  for (int e = 0; e < 32; ++e) {
    x[1 * 32 + e] = 0.0f;                                            // all-zero block
    x[2 * 32 + e] = 1e-40f;                                          // denormal block
    x[3 * 32 + e] = static_cast<float>(e - 16) * (127.0f / 254.0f);  // ties at .5
  }
  x[4 * 32 + 5] = std::numeric_limits<float>::quiet_NaN();
  x[5 * 32 + 9] = -std::numeric_limits<float>::infinity();
  x[kblocks * 32 + 3] = 1e30f;
  std::vector<int8_t> qp(x.size()), qv(x.size(), 99);
  std::vector<qk::Q8Block> bp(rows * kblocks), bv(rows * kblocks);
  for (int64_t i = 0; i < rows; ++i)
    qk::quantize_q8_row_plain(x.data() + i * kblocks * 32, kblocks, qp.data() + i * kblocks * 32,
                              bp.data() + i * kblocks);
  qk::avx512::quantize_q8_rows(x.data(), kblocks * 32, rows, kblocks, qv.data(), kblocks * 32,
                               bv.data());
  EXPECT_EQ(qp, qv);
  for (size_t b = 0; b < bp.size(); ++b) {
    EXPECT_EQ(std::memcmp(&bp[b].scale, &bv[b].scale, 4), 0) << b;
    EXPECT_EQ(bp[b].sum, bv[b].sum) << b;
  }
  EXPECT_TRUE(std::isnan(bp[4].scale));
  EXPECT_EQ(bp[1].scale, 0.0f);
}

// The SIMD activation quantizers give the plain one's bytes (ties, clamping, padding, NaN).
TEST(QuantGemm, ActivationQuantizersAgree) {
  std::mt19937 rng(12);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<const kiln::quant::kernels::Int8Kernel*> kernels = {
      &kiln::quant::kernels::generic::int8_kernel()};
  if (kiln::hardware_isa() >= IsaLevel::kAvx2)
    kernels.push_back(&kiln::quant::kernels::avx2::int8_kernel());
  if (kiln::hardware_isa() >= IsaLevel::kAvx512 && kiln::cpu_features().avx512_vnni)
    kernels.push_back(&kiln::quant::kernels::avx512::int8_kernel());
  for (int64_t k : {1, 3, 16, 45, 130}) {
    for (int kind = 0; kind < 4; ++kind) {
      std::vector<float> x(k);
      for (auto& v : x) v = kind == 1 ? std::fabs(dist(rng)) : dist(rng);
      if (kind == 2) std::fill(x.begin(), x.end(), 0.0f);
      if (kind == 3) x[k / 2] = std::numeric_limits<float>::quiet_NaN();
      const int64_t kp = (k + 3) / 4 * 4;
      std::vector<uint8_t> want(kp), got(kp);
      const auto a = kiln::quant::kernels::quantize_act_row_plain(x.data(), k, want.data());
      for (const auto* kern : kernels) {
        const auto b = kern->quantize_row(x.data(), k, got.data());
        EXPECT_EQ(got, want) << "k=" << k << " kind=" << kind;
        EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0) << "k=" << k << " kind=" << kind;
      }
    }
  }
}

}  // namespace
