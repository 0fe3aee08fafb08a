// GPTQ rounding (quant/gptq.h): plain rounding when the calibration inputs are uncorrelated, the
// fast Cholesky path against the textbook reference, a smaller output error than plain rounding
// on correlated inputs, thread-count independence, the hook that collects a Linear's inputs, and
// errors named.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/autograd.h"
#include "core/error.h"
#include "core/qgemm.h"
#include "core/quant_format.h"
#include "core/thread_pool.h"
#include "nn/image_layers.h"
#include "nn/layers.h"
#include "quant/decisions.h"
#include "quant/gptq.h"

namespace kiln::quant {
namespace {

struct Problem {
  int64_t n, k, rows;
  std::vector<float> w, x;  // w [n, k], x [rows, k]
};

// Inputs with strongly correlated features (x = z A, A dense), as real activations have.
Problem correlated(int64_t n, int64_t k, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p{n, k, rows, std::vector<float>(n * k), std::vector<float>(rows * k, 0.0f)};
  for (auto& v : p.w) v = normal(rng) * 0.05f;
  std::vector<float> a(k * k), z(rows * k);
  for (auto& v : a) v = normal(rng);
  for (auto& v : z) v = normal(rng);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      float s = z[r * k + j] * 0.3f;
      for (int64_t i = 0; i < k; ++i) s += z[r * k + i] * a[i * k + j] / std::sqrt(float(k));
      p.x[r * k + j] = s;
    }
  return p;
}

std::vector<uint8_t> rows_of(Format f, int64_t n, int64_t k) {
  return std::vector<uint8_t>(static_cast<size_t>(n) * row_bytes(f, k));
}

// sum over calibration rows and outputs of (x . (w - w_q))^2.
double output_error(const Problem& p, Format f, const std::vector<uint8_t>& q) {
  std::vector<float> wq(p.n * p.k);
  dequantize_rows(f, q.data(), p.n, p.k, wq.data(), p.k);
  double e = 0;
  for (int64_t r = 0; r < p.rows; ++r)
    for (int64_t o = 0; o < p.n; ++o) {
      double s = 0;
      for (int64_t i = 0; i < p.k; ++i)
        s += double(p.x[r * p.k + i]) * (double(p.w[o * p.k + i]) - double(wq[o * p.k + i]));
      e += s * s;
    }
  return e;
}

TEST(Gptq, UncorrelatedInputsGiveExactlyPlainRounding) {
  for (Format f : {Format::Q4_0, Format::Q4_1}) {
    const int64_t n = 6, k = 70;  // a partial third block
    Problem p = correlated(n, k, 1, 3);
    InputGram gram(k);
    // Each row reaches one input: X^T X is diagonal (uneven), and input 5 is never reached.
    std::vector<float> x(k * k, 0.0f);
    for (int64_t i = 0; i < k; ++i)
      if (i != 5) x[i * k + i] = 0.5f + 0.01f * static_cast<float>(i);
    gram.add(x.data(), k, k);
    auto plain = rows_of(f, n, k), gptq = rows_of(f, n, k), ref = rows_of(f, n, k);
    quantize_rows(f, p.w.data(), n, k, k, plain.data());
    gptq_quantize_rows(f, p.w.data(), n, k, k, gram, {}, gptq.data());
    gptq_quantize_rows_reference(f, p.w.data(), n, k, k, gram, {}, ref.data());
    EXPECT_EQ(gptq, plain) << format_name(f);
    EXPECT_EQ(ref, plain) << format_name(f);
  }
}

TEST(Gptq, FastPathMatchesTheTextbookUpdateAndBeatsPlainRounding) {
  for (Format f : {Format::Q4_0, Format::Q4_1}) {
    const Problem p = correlated(12, 96, 400, 5);
    InputGram gram(p.k);
    gram.add(p.x.data(), 150, p.k);  // in two calls, as batches come
    gram.add(p.x.data() + 150 * p.k, p.rows - 150, p.k);
    EXPECT_EQ(gram.rows(), p.rows);
    auto plain = rows_of(f, p.n, p.k), fast = rows_of(f, p.n, p.k), ref = rows_of(f, p.n, p.k);
    quantize_rows(f, p.w.data(), p.n, p.k, p.k, plain.data());
    gptq_quantize_rows(f, p.w.data(), p.n, p.k, p.k, gram, {}, fast.data());
    gptq_quantize_rows_reference(f, p.w.data(), p.n, p.k, p.k, gram, {}, ref.data());
    // The two formulations are the same arithmetic up to rounding: the same codes but for a
    // rare value that lands on a rounding boundary, and the same output error to 1e-6.
    std::vector<float> a(p.n * p.k), b(p.n * p.k);
    dequantize_rows(f, fast.data(), p.n, p.k, a.data(), p.k);
    dequantize_rows(f, ref.data(), p.n, p.k, b.data(), p.k);
    int64_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
    EXPECT_LE(differ, static_cast<int64_t>(a.size() / 200)) << format_name(f);
    const double e_plain = output_error(p, f, plain), e_fast = output_error(p, f, fast),
                 e_ref = output_error(p, f, ref);
    EXPECT_NEAR(e_fast, e_ref, 0.02 * e_ref) << format_name(f);
    // Correlated inputs: moving each error onto the later columns pays.
    EXPECT_LT(e_fast, 0.75 * e_plain)
        << format_name(f) << " plain " << e_plain << " gptq " << e_fast;
    std::cout << format_name(f) << ": output error plain " << e_plain << ", GPTQ " << e_fast
              << " (reference " << e_ref << ")\n";
  }
}

TEST(Gptq, BytesDoNotDependOnTheThreadCount) {
  const Problem p = correlated(37, 64, 200, 9);
  InputGram gram(p.k);
  gram.add(p.x.data(), p.rows, p.k);
  std::vector<std::vector<uint8_t>> out;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    out.push_back(rows_of(Format::Q4_0, p.n, p.k));
    gptq_quantize_rows(Format::Q4_0, p.w.data(), p.n, p.k, p.k, gram, {}, out.back().data());
  }
  set_num_threads(2);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
}

TEST(Gptq, RefusesWhatItCannotDoNamingIt) {
  const Problem p = correlated(2, 32, 10, 1);
  InputGram gram(p.k), other(16);
  gram.add(p.x.data(), p.rows, p.k);
  auto out = rows_of(Format::Q4_0, 2, 32);
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] {
              auto o = rows_of(Format::Int8, 2, 32);
              gptq_quantize_rows(Format::Int8, p.w.data(), 2, 32, 32, gram, {}, o.data());
            }).find("q4_0 and q4_1, not int8"),
            std::string::npos);
  EXPECT_NE(message([&] {
              gptq_quantize_rows(Format::Q4_0, p.w.data(), 2, 32, 32, other, {}, out.data());
            }).find("16 features, the weight 32 columns"),
            std::string::npos);
  std::vector<float> bad = p.w;
  bad[40] = NAN;
  EXPECT_NE(message([&] {
              gptq_quantize_rows(Format::Q4_0, bad.data(), 2, 32, 32, gram, {}, out.data());
            }).find("weight row 1 has a non-finite value"),
            std::string::npos);
  GptqOptions neg;
  neg.damp = -1;
  EXPECT_NE(message([&] {
              gptq_quantize_rows(Format::Q4_0, p.w.data(), 2, 32, 32, gram, neg, out.data());
            }).find("damping"),
            std::string::npos);
}

TEST(WeightInputHook, SeesEveryLinearInputWhileItLives) {
  Generator gen(3);
  nn::Linear a(8, 4), b(4, 2);
  const Tensor x = Tensor::randn({3, 8}, gen);
  std::vector<std::pair<const nn::Module*, Shape>> seen;
  {
    nn::ScopedWeightInputHook hook(
        [&](const nn::Module& l, const Tensor& in) { seen.emplace_back(&l, in.shape()); });
    b.forward_fused(a.forward(x), LinearActivation::kNone);
  }
  a.forward(x);  // after the hook: not seen
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, &a);
  EXPECT_EQ(seen[0].second, (Shape{3, 8}));
  EXPECT_EQ(seen[1].first, &b);
  EXPECT_EQ(seen[1].second, (Shape{3, 4}));
}

// A convolution hands its receptive fields: one row per output pixel, (c, i, j) order, zeros in
// the padding. A quantized layer hands nothing (there is no float weight to round).
TEST(WeightInputHook, SeesAConvolutionsReceptiveFieldsAndNoQuantizedLayer) {
  Conv2dOptions o;
  o.padding = {1, 1};
  nn::Conv2d conv(2, 3, 3, o, true);
  std::vector<float> xs(2 * 4 * 4);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i + 1);
  const Tensor x = Tensor::from_floats(xs, {1, 2, 4, 4});
  std::vector<Tensor> rows;
  {
    nn::ScopedWeightInputHook hook([&](const nn::Module& l, const Tensor& r) {
      EXPECT_EQ(&l, &conv);
      rows.push_back(r.clone());
    });
    conv.forward(x);
  }
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].shape(), (Shape{16, 18}));
  const std::vector<float> got = rows[0].to_floats();
  // Pixel (1, 2) = row 6: channel c, tap (i, j) reads x[c][1 - 1 + i][2 - 1 + j].
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(got[6 * 18 + (c * 3 + i) * 3 + j], xs[c * 16 + i * 4 + (1 + j)]);
  // Pixel (0, 0) = row 0: its top row and left column fall in the padding.
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[4], xs[0]);

  nn::Linear lin(40, 24);
  Generator gen(1);
  lin.weight = Tensor::randn({24, 40}, gen);
  const Tensor q = quantize_tensor(lin.weight, Format::Q4_0);
  lin.set_quantized(std::make_shared<const PackedQuantB>(Format::Q4_0, 24, 40,
                                                         static_cast<const uint8_t*>(q.raw_data())),
                    "l.weight");
  int calls = 0;
  {
    nn::ScopedWeightInputHook hook([&](const nn::Module&, const Tensor&) { ++calls; });
    NoGradGuard ng;
    lin.forward(Tensor::randn({2, 40}, gen));
  }
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace kiln::quant
