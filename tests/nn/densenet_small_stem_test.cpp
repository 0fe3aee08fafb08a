// DenseNet's small-image stem (config "stem": "small", the DenseNet paper's CIFAR/SVHN variant: one
// 3x3 conv, stride 1, padding 1, then dense block 1 at full resolution):
//   - the config field reads, round-trips through kiln's stored form, shows in the family's
//     summary (`kiln inspect`), and bad values are refused naming the field;
//   - the module has conv0 3x3 and no norm0, and parameter_count() counts what it holds;
//   - features.conv0 is exactly the conv2d op (stride 1, padding 1, no bias) of the input and block
//     1 sees the input's full size;
//   - in f64, train mode, every gradient of the whole network (the stem's weight and the input
//     included) agrees with central finite differences;
//   - the channels-last inference engine agrees with the layer-by-layer path within 1e-5, on odd
//     sizes and across thread counts bit for bit.
// All shapes are tiny (the suite runs twice in CI, once under ASan).
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "nn/family.h"
#include "tests/common/reference_checks.h"
#include "tests/nn/densenet_test_util.h"

namespace kiln::nn {
namespace {

DenseNetConfig small_config(int64_t growth, int64_t bn_size, std::vector<int64_t> blocks,
                            int64_t init, int64_t classes = 5) {
  DenseNetConfig c;
  c.stem = "small";
  c.growth_rate = growth, c.bn_size = bn_size, c.block_config = std::move(blocks);
  c.num_init_features = init, c.num_classes = classes;
  for (int64_t i = 0; i < classes; ++i) c.labels.push_back("c" + std::to_string(i));
  return c;
}

TEST(DenseNetSmallStem, ConfigReadsRoundTripsAndDefaultsToImagenet) {
  nlohmann::json j = {{"growth_rate", 12},
                      {"block_config", {6, 6, 6}},
                      {"num_init_features", 24},
                      {"num_classes", 10}};
  EXPECT_EQ(DenseNetConfig::from_json(j, "x").stem, "imagenet");  // configs without the field
  j["stem"] = "small";
  const auto c = DenseNetConfig::from_json(j, "x");
  EXPECT_TRUE(c.small_stem());
  EXPECT_EQ(c.to_json()["stem"], "small");
  const auto back = DenseNetConfig::from_json(c.to_json(), "stored");
  EXPECT_TRUE(back.small_stem());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_NE(c.describe().find("small stem"), std::string::npos) << c.describe();
  // The family's summary is what `kiln inspect` prints.
  const auto& fam = family_for_config(j, "x");
  const ModelSpec spec = fam.parse_config(c.to_json(), "x");
  bool shown = false;
  for (const auto& [k, v] : spec.summary) shown |= v.find("small stem") != std::string::npos;
  EXPECT_TRUE(shown);
}

TEST(DenseNetSmallStem, BadStemValuesAreRefusedNamingTheField) {
  for (const nlohmann::json& bad : {nlohmann::json("cifar"), nlohmann::json(3),
                                    nlohmann::json("Small"), nlohmann::json::array()}) {
    const std::string msg = testing::message_of([&] {
      DenseNetConfig::from_json({{"growth_rate", 4}, {"stem", bad}}, "cfg.json");
    });
    EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'stem'"), std::string::npos) << msg;
  }
}

TEST(DenseNetSmallStem, ModuleHasConv3x3AndNoNorm0AndCountsItsParameters) {
  const DenseNetConfig c = small_config(4, 2, {2, 3}, 6);
  DenseNet m(c);
  EXPECT_EQ(m.norm0, nullptr);
  EXPECT_EQ(m.conv0->weight.shape(), (Shape{6, 3, 3, 3}));
  for (const auto& [name, p] : m.named_parameters())
    EXPECT_EQ(name.find("norm0"), std::string::npos) << name;
  EXPECT_EQ(m.parameter_count(), c.parameter_count());
  // And the ImageNet stem's count still matches its module (the formula has both branches).
  DenseNetConfig imagenet = c;
  imagenet.stem = "imagenet";
  EXPECT_EQ(DenseNet(imagenet).parameter_count(), imagenet.parameter_count());
}

TEST(DenseNetSmallStem, Conv0IsTheConvOpAndBlock1SeesFullResolution) {
  DenseNet m(small_config(3, 2, {1, 1}, 4));
  randomise_densenet(m, 7);
  m.eval();
  Generator gen(8);
  const Tensor x = Tensor::randn({2, 3, 7, 9}, gen);
  NoGradGuard ng;
  NamedTensors acts;
  m.pooled_features(x, &acts, "");
  Conv2dOptions o;
  o.padding = {1, 1};
  const Tensor want = conv2d(x, m.conv0->weight, Tensor(), o);
  EXPECT_EQ(acts.at("features.conv0").to_vector(), want.to_vector());
  EXPECT_EQ(acts.count("features.norm0") + acts.count("features.pool0"), 0u);
  EXPECT_EQ(acts.at("features.denseblock1").shape(), (Shape{2, 4 + 3, 7, 9}));
  EXPECT_EQ(acts.at("features.transition1").shape(), (Shape{2, 3, 3, 4}));
}

// loss = sum(logits * r) in f64 and train mode; its gradient w.r.t. the input and a few elements
// of every parameter, against central differences.
TEST(DenseNetSmallStem, GradientsMatchFiniteDifferencesInF64) {
  DenseNet m(small_config(2, 2, {2, 1}, 3, 3));
  randomise_densenet(m, 11);
  for (auto& [name, p] : m.named_parameters()) *p = p->to(DType::F64).set_requires_grad(true);
  for (auto& [name, b] : m.named_buffers())
    if (is_floating(b->dtype())) *b = b->to(DType::F64);
  m.train();
  Generator gen(12);
  Tensor x = Tensor::randn({2, 3, 5, 4}, gen).to(DType::F64).set_requires_grad(true);
  const Tensor r = Tensor::randn({2, 3}, gen).to(DType::F64);
  auto loss = [&](const Tensor& input) {
    return sum(mul(m.forward({{"pixel_values", input}}).at("logits"), r));
  };
  loss(x).backward();
  const double eps = 1e-6;
  int checked = 0;
  auto check = [&](Tensor& t, const Tensor& grad, const std::string& what) {
    ASSERT_TRUE(grad.defined()) << what;
    const std::vector<double> g = grad.to_vector();
    const int64_t n = t.numel();
    for (int64_t i : {int64_t{0}, n / 3, n / 2, n - 1}) {
      double* v = t.data<double>() + i;
      const double saved = *v;
      double plus, minus;
      {
        NoGradGuard ng;
        *v = saved + eps;
        plus = loss(x).item();
        *v = saved - eps;
        minus = loss(x).item();
        *v = saved;
      }
      const double fd = (plus - minus) / (2 * eps);
      EXPECT_NEAR(g[static_cast<size_t>(i)], fd, 1e-6 * std::max(1.0, std::abs(fd)))
          << what << "[" << i << "]";
      ++checked;
    }
  };
  check(x, x.grad(), "pixel_values");
  for (auto& [name, p] : m.named_parameters()) check(*p, p->grad(), name);
  EXPECT_GT(checked, 40);
}

void engine_matches_layer_path(const DenseNetConfig& c, const Shape& input, uint64_t seed) {
  DenseNet m(c);
  randomise_densenet(m, seed);
  m.eval();
  Generator gen(seed + 1);
  const Tensor x = Tensor::randn(input, gen);
  NoGradGuard ng;
  const Tensor plain = m.forward({{"pixel_values", x}}).at("logits");
  m.pack_for_inference();
  const Tensor fast = m.forward({{"pixel_values", x}}).at("logits");
  EXPECT_LT(testing::max_diff_over_max(fast, plain), 1e-5);
  NamedTensors acts;
  const Tensor pooled_plain = m.pooled_features(x, &acts, "");  // `acts` keeps the layer path
  const Tensor pooled_fast = m.pooled_features(x, nullptr, "");
  EXPECT_LT(testing::max_diff_over_max(pooled_fast, pooled_plain), 1e-5);
}

TEST(DenseNetSmallStem, InferenceEngineMatchesLayerPath) {
  // 11 x 13: block 1 at 11 x 13, transitions floor to 5 x 6 and 2 x 3.
  engine_matches_layer_path(small_config(4, 2, {2, 3, 2}, 8), {2, 3, 11, 13}, 21);
  // 28 x 28 as Fashion-MNIST, a batch of 3: several row chunks and 3x3 bands in block 1.
  engine_matches_layer_path(small_config(4, 4, {2, 2}, 8), {3, 3, 28, 28}, 23);
}

TEST(DenseNetSmallStem, InferenceEngineIsBitIdenticalAcrossThreadCounts) {
  const int saved = num_threads();
  DenseNet m(small_config(4, 2, {2, 2}, 8));
  randomise_densenet(m, 31);
  m.eval();
  m.pack_for_inference();
  Generator gen(32);
  const Tensor x = Tensor::randn({2, 3, 17, 15}, gen);
  NoGradGuard ng;
  auto logits = [&] { return m.forward({{"pixel_values", x}}).at("logits").to_vector(); };
  set_num_threads(1);
  const auto one = logits();
  set_num_threads(2);
  EXPECT_EQ(one, logits());
  set_num_threads(3);
  EXPECT_EQ(one, logits());
  set_num_threads(saved);
}

}  // namespace
}  // namespace kiln::nn
