// SGD against torch.optim.SGD's update formulas evaluated in f64 on the same f32 inputs, for
// plain, momentum, dampened and Nesterov configurations with weight decay, over several steps;
// parameters without a gradient stay bit-for-bit untouched and get no momentum buffer.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "train/sgd.h"

namespace kiln::train {
namespace {

struct Config {
  const char* label;
  SGDOptions options;
  bool hf_decay_filter = false;  // no weight decay on "bias"
};

// torch.optim.SGD for one parameter, in double. `buf` is empty until the first update.
void reference_update(std::vector<double>& w, const std::vector<double>& g,
                      std::vector<double>& buf, const SGDOptions& o, bool decays, double lr) {
  const bool first = buf.empty();
  if (o.momentum != 0 && first) buf.resize(w.size());
  for (size_t j = 0; j < w.size(); ++j) {
    double d = g[j];
    if (decays && o.weight_decay != 0) d += o.weight_decay * w[j];
    if (o.momentum != 0) {
      buf[j] = first ? d : buf[j] * o.momentum + (1 - o.dampening) * d;
      d = o.nesterov ? d + o.momentum * buf[j] : buf[j];
    }
    w[j] -= lr * d;
  }
}

void PrintTo(const Config& c, std::ostream* os) {
  *os << c.label;
}

class SGDReference : public ::testing::TestWithParam<Config> {};

TEST_P(SGDReference, TracksTorchFormulasInF64) {
  const Config& c = GetParam();
  Generator gen(17);
  // "late" first gets a gradient at step 2 (its buffer starts then); "frozen" never does.
  std::map<std::string, Tensor> params = {
      {"layer.weight", Tensor::randn({7, 5}, gen)},
      {"layer.bias", Tensor::randn({5}, gen)},
      {"late.weight", Tensor::randn({3, 4}, gen)},
      {"frozen.weight", Tensor::randn({6}, gen)},
  };
  NamedParams named;
  std::map<std::string, std::vector<double>> ref, bufs;
  for (auto& [name, t] : params) {
    named.emplace_back(name, &t);
    ref[name] = t.to_vector();
  }
  const std::vector<double> frozen_before = params["frozen.weight"].to_vector();
  SGD opt(named, c.options, c.hf_decay_filter ? default_decay_filter : nullptr);
  for (int step = 0; step < 6; ++step) {
    const double lr = c.options.lr * (step % 2 ? 0.5 : 1.0);  // a schedule changes lr
    opt.set_lr(lr);
    for (auto& [name, t] : params) {
      t.zero_grad();
      if (name == "frozen.weight" || (name == "late.weight" && step < 2)) continue;
      const Tensor g = Tensor::randn(t.shape(), gen);
      t.set_grad(g);
      const bool decays = !c.hf_decay_filter || default_decay_filter(name);
      reference_update(ref[name], g.to_vector(), bufs[name], c.options, decays,
                       static_cast<double>(static_cast<float>(lr)));
    }
    opt.step();
    for (auto& [name, t] : params) {
      const std::vector<double> got = t.to_vector();
      for (size_t j = 0; j < got.size(); ++j)
        ASSERT_NEAR(got[j], ref[name][j], 2e-6 * (1 + std::abs(ref[name][j])))
            << c.label << " step " << step << " " << name << "[" << j << "]";
    }
  }
  EXPECT_EQ(params["frozen.weight"].to_vector(), frozen_before);
  const OptimizerState s = opt.state_dict();
  EXPECT_EQ(s.kind, "sgd");
  EXPECT_EQ(s.scalars.at("step"), 6);
  if (c.options.momentum == 0) {
    EXPECT_TRUE(s.slots.empty());
  } else {
    const auto& buffers = s.slots.at("momentum_buffer");
    EXPECT_EQ(buffers.size(), 3u);
    EXPECT_FALSE(buffers.count("frozen.weight"));
    for (const auto& [name, b] : buffers) {
      const std::vector<double> got = b.to_vector();
      for (size_t j = 0; j < got.size(); ++j)
        EXPECT_NEAR(got[j], bufs[name][j], 2e-6 * (1 + std::abs(bufs[name][j]))) << name;
    }
  }
}

SGDOptions sgd(double lr, double momentum, double dampening, double weight_decay, bool nesterov) {
  return SGDOptions{lr, momentum, dampening, weight_decay, nesterov};
}

INSTANTIATE_TEST_SUITE_P(
    Configs, SGDReference,
    ::testing::Values(Config{"plain", sgd(0.1, 0, 0, 0, false)},
                      Config{"plain_decay", sgd(0.1, 0, 0, 0.1, false)},
                      Config{"momentum", sgd(0.1, 0.9, 0, 0, false)},
                      Config{"dampened_decay", sgd(0.1, 0.5, 0.3, 0.05, false)},
                      Config{"nesterov_decay", sgd(0.1, 0.9, 0, 0.01, true)},
                      Config{"nesterov_hf_filter", sgd(0.2, 0.8, 0, 0.1, true), true}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(SGD, RejectsWhatTorchRejects) {
  Tensor w = Tensor::zeros({2});
  const NamedParams p = {{"w", &w}};
  EXPECT_THROW(SGD(p, sgd(0.1, 0, 0, 0, /*nesterov=*/true)), Error);      // no momentum
  EXPECT_THROW(SGD(p, sgd(0.1, 0.9, 0.1, 0, /*nesterov=*/true)), Error);  // dampening
  EXPECT_THROW(SGD(p, sgd(-1, 0, 0, 0, false)), Error);
  EXPECT_THROW(SGD(p, sgd(0.1, -0.5, 0, 0, false)), Error);
  EXPECT_THROW(SGD(p, sgd(0.1, 0, 0, -0.1, false)), Error);
}

}  // namespace
}  // namespace kiln::train
