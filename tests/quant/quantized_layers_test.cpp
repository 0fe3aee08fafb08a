// nn::Linear and nn::Embedding on quantized weights: the fused forward matches the plain
// reference loop (quant::linear_quant_reference) plus the same epilogue, an embedding row is the
// dequantized row, and training or autograd through a quantized weight is refused by name.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/qgemm.h"
#include "core/quant_format.h"
#include "nn/layers.h"
#include "quant/decisions.h"
#include "quant/eligibility.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

using quant::Format;

TEST(QuantizedLinear, MatchesTheReferenceLoopWithTheFusedEpilogue) {
  Generator gen(7);
  for (Format f : quant::kAllFormats) {
    nn::Linear lin(40, 24);  // k = 40: a partial second 4-bit block
    lin.weight = Tensor::randn({24, 40}, gen);
    lin.bias = Tensor::randn({24}, gen);
    const Tensor x = Tensor::randn({3, 5, 40}, gen), res = Tensor::randn({3, 5, 24}, gen);
    const Tensor rows = quant::quantize_tensor(lin.weight, f);
    lin.set_quantized(std::make_shared<const quant::PackedQuantB>(
                          f, 24, 40, static_cast<const uint8_t*>(rows.raw_data())),
                      "l.weight");
    NoGradGuard ng;
    const Tensor y = lin.forward_fused(x, LinearActivation::kGelu, res);
    // The reference: the plain loop, then gelu and the residual as separate steps.
    std::vector<float> ref(15 * 24);
    quant::linear_quant_reference(f, 15, 24, 40, contiguous(x).data<float>(), 40,
                                  static_cast<const uint8_t*>(rows.raw_data()), ref.data(), 24,
                                  {lin.bias.data<float>()});
    kernels::gelu_f32(ref.data(), ref.data(), static_cast<int64_t>(ref.size()));
    const auto r = contiguous(res).to_vector();
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += static_cast<float>(r[i]);
    const Tensor want = Tensor::from_floats(ref, {3, 5, 24});
    // int8 quantizes activations identically in both; q4 sums in a different order.
    EXPECT_LE(max_abs_diff(y, want), 1e-4) << quant::format_name(f);
    EXPECT_EQ(y.shape(), Shape({3, 5, 24}));
  }
}

TEST(QuantizedLinear, TrainingAndAutogradAreRefusedByName) {
  Generator gen(1);
  nn::Linear lin(32, 8);
  lin.weight = Tensor::randn({8, 32}, gen);
  const Tensor rows = quant::quantize_tensor(lin.weight, Format::Int8);
  lin.set_quantized(std::make_shared<const quant::PackedQuantB>(
                        Format::Int8, 8, 32, static_cast<const uint8_t*>(rows.raw_data())),
                    "encoder.dense.weight");
  const std::string params = message_of([&] { lin.named_parameters(); });
  EXPECT_NE(params.find("weight' is quantized"), std::string::npos) << params;
  Tensor x = Tensor::randn({2, 32}, gen);
  x.set_requires_grad(true);
  const std::string grad = message_of([&] { lin.forward(x); });
  EXPECT_NE(grad.find("'encoder.dense.weight' is quantized (int8)"), std::string::npos) << grad;
  // Back to float: the layer trains again.
  const Tensor w = Tensor::randn({8, 32}, gen);
  lin.clear_quantized(w);
  EXPECT_EQ(lin.named_parameters().size(), 2u);
}

TEST(QuantizedEmbedding, GathersDequantizedRows) {
  Generator gen(3);
  for (Format f : quant::kAllFormats) {
    nn::Embedding emb(10, 48);
    emb.weight = Tensor::randn({10, 48}, gen);
    const Tensor rows = quant::quantize_tensor(emb.weight, f);
    std::vector<float> deq(10 * 48);
    quant::dequantize_rows(f, static_cast<const uint8_t*>(rows.raw_data()), 10, 48, deq.data(), 48);
    emb.set_quantized(f, 10, 48, rows, "words.weight");
    const Tensor ids = Tensor::from_ints({3, 0, 9, 3}, {2, 2});
    const auto y = emb.forward(ids).to_vector();
    ASSERT_EQ(y.size(), 4u * 48);
    const int64_t want_ids[] = {3, 0, 9, 3};
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 48; ++j)
        EXPECT_EQ(static_cast<float>(y[i * 48 + j]), deq[want_ids[i] * 48 + j]);
    const std::string bad = message_of([&] { emb.forward(Tensor::from_ints({10}, {1})); });
    EXPECT_NE(bad.find("'words.weight': index 10 is out of range"), std::string::npos) << bad;
  }
}

TEST(QuantizeEligibility, SkipTakesSubstringsAndGlobs) {
  EXPECT_TRUE(quant::matches_skip("bert.encoder.layer.0.output.dense.weight", "output.dense"));
  EXPECT_TRUE(quant::matches_skip("bert.encoder.layer.1.output.dense.weight", "*.layer.1.*"));
  EXPECT_FALSE(quant::matches_skip("bert.encoder.layer.0.output.dense.weight", "*.layer.1.*"));
  EXPECT_FALSE(quant::matches_skip("bert.pooler.dense.weight", "output"));
}

}  // namespace
}  // namespace kiln::testing
