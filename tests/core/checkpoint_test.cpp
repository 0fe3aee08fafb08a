// Gradient checkpointing (core/checkpoint.h): a stack of small residual blocks with dropout, whose
// every block also reads a shared "memory" tensor (as BART's decoder layers read the encoder
// output) and whose input is used again after the stack. With and without checkpoint(), every
// parameter and input gradient must have the same bits, the loss too, and the generator must end
// at the same offset. Also: the checkpointed forward keeps no nodes inside the blocks; a function
// that draws other counters on recomputation is refused; bf16 autocast is restored for the
// recomputation; without grad mode checkpoint() is the plain call.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"
#include "core/rng.h"

namespace kiln {
namespace {

constexpr int64_t kBlocks = 3, kRows = 6, kDim = 8;

struct Net {
  std::map<std::string, Tensor> p;
  Tensor x, memory, target;
  Net() {
    Generator g(77);
    auto param = [&](const std::string& n, const Shape& s) {
      p[n] = mul(Tensor::randn(s, g), 0.3).detach().set_requires_grad(true);
    };
    for (int64_t i = 0; i < kBlocks; ++i) {
      const std::string s = std::to_string(i);
      param("w1." + s, {2 * kDim, kDim});
      param("b1." + s, {2 * kDim});
      param("w2." + s, {kDim, 2 * kDim});
      param("wm." + s, {kDim, kDim});
      param("ln." + s, {kDim});
    }
    x = Tensor::randn({2, kRows / 2, kDim}, g).set_requires_grad(true);
    memory = Tensor::randn({2, kRows / 2, kDim}, g).set_requires_grad(true);
    target = Tensor::randn({2, kRows / 2, kDim}, g);
  }
  Tensor block(int64_t i, const Tensor& h, const Tensor& mem, Generator* gen) const {
    const std::string s = std::to_string(i);
    Tensor u = dropout(gelu(linear(h, p.at("w1." + s), p.at("b1." + s))), 0.3, true, *gen);
    // mem is read twice per block: its gradient is a sum whose grouping checkpointing must keep.
    Tensor v = add(linear(u, p.at("w2." + s), Tensor()), linear(mem, p.at("wm." + s), Tensor()));
    v = add(v, mul(mem, 0.7));
    return layer_norm(add(dropout(v, 0.2, true, *gen), h), p.at("ln." + s), Tensor(), 1e-5);
  }
  Tensor loss(bool ckpt, Generator& gen) const {
    Tensor h = x;
    for (int64_t i = 0; i < kBlocks; ++i) {
      if (ckpt) {
        h = checkpoint([this, i, g = &gen](
                           const std::vector<Tensor>& in) { return block(i, in[0], in[1], g); },
                       {h, memory}, &gen);
      } else {
        h = block(i, h, memory, &gen);
      }
    }
    h = add(h, mul(x, 0.5));  // the input used again after the stack
    return sum(mul(mul(h, target), h));
  }
  struct Result {
    std::vector<float> loss;
    std::map<std::string, std::vector<float>> grads;
    uint64_t offset;
  };
  Result run(bool ckpt) const {
    for (auto& [n, t] : p) t.zero_grad();
    x.zero_grad(), memory.zero_grad();
    Generator gen(5);
    Tensor l = loss(ckpt, gen);
    l.backward();
    Result r{l.to_floats(), {}, gen.offset()};
    for (auto& [n, t] : p) r.grads[n] = t.grad().to_floats();
    r.grads["x"] = x.grad().to_floats();
    r.grads["memory"] = memory.grad().to_floats();
    return r;
  }
};

TEST(Checkpoint, GradientsAreBitIdentical) {
  const Net net;
  const auto plain = net.run(false), ckpt = net.run(true);
  EXPECT_EQ(plain.loss, ckpt.loss);
  EXPECT_EQ(plain.offset, ckpt.offset);
  ASSERT_EQ(plain.grads.size(), ckpt.grads.size());
  for (const auto& [name, g] : plain.grads) EXPECT_EQ(g, ckpt.grads.at(name)) << name;
}

TEST(Checkpoint, BitIdenticalUnderBf16Autocast) {
  const Net net;
  Net::Result plain, ckpt;
  {
    Bf16AutocastGuard autocast;
    plain = net.run(false);
    ckpt = net.run(true);
  }
  for (const auto& [name, g] : plain.grads) EXPECT_EQ(g, ckpt.grads.at(name)) << name;
  // ... and autocast did change the numbers.
  EXPECT_NE(plain.grads.at("w1.0"), net.run(false).grads.at("w1.0"));
}

TEST(Checkpoint, KeepsNoNodesInsideTheBlocks) {
  const Net net;
  Generator g1(5), g2(5);
  const int64_t before = Node::live_count();
  Tensor a = net.loss(false, g1);
  const int64_t plain_nodes = Node::live_count() - before;
  Tensor b = net.loss(true, g2);
  const int64_t ckpt_nodes = Node::live_count() - before - plain_nodes;
  // One node per block plus the few after the stack, against ~15 per block.
  EXPECT_LE(ckpt_nodes, kBlocks + 6);
  EXPECT_GE(plain_nodes, 10 * kBlocks);
}

TEST(Checkpoint, RefusesAFunctionThatDrawsOtherCounters) {
  Generator gen(1);
  Tensor w = Tensor::ones({4}).set_requires_grad(true);
  int calls = 0;
  Tensor z = checkpoint(
      [&](const std::vector<Tensor>& in) {
        if (calls++ > 0) gen.reserve(3);  // the recomputation draws counters the forward did not
        return dropout(mul(in[0], w), 0.5, true, gen);
      },
      {Tensor::ones({4})}, &gen);
  try {
    sum(z).backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a pure function"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, WithoutGradModeIsThePlainCall) {
  Tensor w = Tensor::ones({3}).set_requires_grad(true);
  NoGradGuard ng;
  const int64_t before = Node::live_count();
  Tensor y = checkpoint([&](const std::vector<Tensor>& in) { return mul(in[0], w); },
                        {Tensor::full({3}, 2.0)}, nullptr);
  EXPECT_EQ(Node::live_count(), before);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.to_floats(), std::vector<float>({2, 2, 2}));
}

}  // namespace
}  // namespace kiln
