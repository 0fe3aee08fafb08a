// The channels-last DenseNet inference path (nn/densenet_inference.h, used by eval no-grad
// forwards after pack_for_inference) against the layer-by-layer forward of the same model, on
// configurations that reach its edge cases: odd image sizes (floor pooling in the stem and the
// transitions, partial 3x3 bands), a batch whose rows span several GEMM chunks, random batch-norm
// statistics and affine parameters (so no norm is an identity), and 1 / 2 / 3 threads giving the
// same bits.
#include <gtest/gtest.h>

#include <iostream>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "tests/common/reference_checks.h"
#include "tests/nn/densenet_test_util.h"

namespace kiln::nn {
namespace {

DenseNetConfig config(int64_t growth, int64_t bn_size, std::vector<int64_t> blocks, int64_t init) {
  DenseNetConfig c;
  c.growth_rate = growth, c.bn_size = bn_size, c.block_config = std::move(blocks);
  c.num_init_features = init, c.num_classes = 5;
  return c;
}

Tensor logits_of(const DenseNet& m, const Tensor& x) {
  NoGradGuard ng;
  return m.forward({{"pixel_values", x}}).at("logits");
}

void check_config(const DenseNetConfig& c, const Shape& input, uint64_t seed) {
  DenseNet m(c);
  randomise_densenet(m, seed);
  m.eval();
  Generator gen(seed + 1);
  const Tensor x = Tensor::randn(input, gen);
  const Tensor plain = logits_of(m, x);
  m.pack_for_inference();
  const Tensor fast = logits_of(m, x);
  const double d = testing::max_diff_over_max(fast, plain);
  EXPECT_LT(d, 1e-5);
  std::cout << "channels-last vs layer-by-layer logits: max diff / max " << d << "\n";
  // Features too (the logits could hide a wrong channel behind the classifier).
  NoGradGuard ng;
  NamedTensors acts;
  const Tensor pooled_plain = m.pooled_features(x, &acts, "");  // `acts` keeps the layer path
  const Tensor pooled_fast = m.pooled_features(x, nullptr, "");
  EXPECT_LT(testing::max_diff_over_max(pooled_fast, pooled_plain), 1e-5);
  m.unpack_weights();
  EXPECT_EQ(logits_of(m, x).to_vector(), plain.to_vector()) << "unpacking restores the layer path";
}

TEST(DenseNetInference, MatchesLayerPathOnOddSizes) {
  // 37 x 45 -> stem 19 x 23 -> pool 10 x 12 -> block -> 5 x 6 -> block -> 2 x 3.
  check_config(config(4, 2, {2, 3, 2}, 8), {2, 3, 37, 45}, 5);
}

TEST(DenseNetInference, MatchesLayerPathOverManyChunks) {
  // 3 x 64 x 64: 3 x 16 x 16 = 768 rows in block 1, several 1x1 chunks and 3x3 bands.
  check_config(config(8, 4, {3, 2}, 16), {3, 3, 64, 64}, 9);
}

TEST(DenseNetInference, TooSmallInputIsAnError) {
  DenseNet m(config(4, 2, {1, 1, 1}, 8));
  randomise_densenet(m, 2);
  m.eval();
  m.pack_for_inference();
  Generator gen(3);
  // 8 x 8 -> stem 4 x 4 -> pool 2 x 2 -> transition1 1 x 1 -> transition2 cannot pool.
  const Tensor x = Tensor::randn({1, 3, 8, 8}, gen);
  try {
    logits_of(m, x);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
  }
}

TEST(DenseNetInference, BitIdenticalAcrossThreadCounts) {
  const int saved = num_threads();
  DenseNet m(config(8, 4, {3, 2}, 16));
  randomise_densenet(m, 3);
  m.eval();
  m.pack_for_inference();
  Generator gen(4);
  const Tensor x = Tensor::randn({2, 3, 48, 40}, gen);
  set_num_threads(1);
  const auto one = logits_of(m, x).to_vector();
  set_num_threads(2);
  EXPECT_EQ(one, logits_of(m, x).to_vector());
  set_num_threads(3);
  EXPECT_EQ(one, logits_of(m, x).to_vector());
  set_num_threads(saved);
}

}  // namespace
}  // namespace kiln::nn
