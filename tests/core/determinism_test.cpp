// Thread-count independence: a forward + backward of a small attention block (embedding, q/k/v
// projections, padded multi-head attention, output projection, residual, layer_norm) gives
// bit-identical outputs and parameter gradients with 1, 2 and 3 threads; so do the scatter-add
// backwards of embedding, index_select and gather on sizes where parallel_for splits the work.
// Also: a no-grad forward of the block builds no autograd nodes, a grad-mode one does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "tests/core/thread_count_restorer.h"

namespace kiln {
namespace {

constexpr int64_t kB = 4, kL = 32, kHidden = 64, kHeads = 4, kVocab = 50;

struct Block {
  std::map<std::string, Tensor> params;
  Tensor tokens, mask, out_weights;

  Block() {
    Generator gen(20261122);
    auto param = [&](const std::string& name, const Shape& s, double scale) {
      params[name] = mul(Tensor::randn(s, gen), scale).detach().set_requires_grad(true);
    };
    param("embed", {kVocab, kHidden}, 1.0);
    for (const char* p : {"q", "k", "v", "o"}) {
      param(std::string("w") + p, {kHidden, kHidden}, 0.125);
      param(std::string("b") + p, {kHidden}, 0.1);
    }
    param("ln_w", {kHidden}, 1.0);
    param("ln_b", {kHidden}, 1.0);
    std::vector<int64_t> ids(kB * kL), m(kB * kL);
    for (int64_t i = 0; i < kB * kL; ++i) {
      ids[i] = static_cast<int64_t>(gen.next_u64() % kVocab);
      m[i] = (i % kL) < kL - 5 * (i / kL) ? 1 : 0;  // batch b pads its last 5*b positions
    }
    tokens = Tensor::from_ints(ids, {kB, kL});
    mask = Tensor::from_ints(m, {kB, kL}, DType::U8);
    out_weights = Tensor::randn({kB, kL, kHidden}, gen);
  }

  Tensor heads(const Tensor& x, const char* p) const {
    Tensor y = linear(x, params.at(std::string("w") + p), params.at(std::string("b") + p));
    return permute(reshape(y, {kB, kL, kHeads, kHidden / kHeads}), {0, 2, 1, 3});
  }

  // Returns the block output [B, L, hidden]; the scalar loss weights it with fixed random values.
  Tensor forward() const {
    Tensor x = embedding(params.at("embed"), tokens);
    AttentionOptions opt;
    opt.key_padding_mask = mask;
    Tensor a = scaled_dot_product_attention(heads(x, "q"), heads(x, "k"), heads(x, "v"), opt);
    a = reshape(permute(a, {0, 2, 1, 3}), {kB, kL, kHidden});
    Tensor y = add(x, linear(a, params.at("wo"), params.at("bo")));
    return layer_norm(y, params.at("ln_w"), params.at("ln_b"), 1e-5);
  }
};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), ac.nbytes()) == 0;
}

using testing::ThreadCountRestorer;

TEST(Determinism, AttentionBlockForwardBackwardBitIdenticalAcrossThreadCounts) {
  ThreadCountRestorer restore;
  struct Result {
    Tensor out, loss;
    std::map<std::string, Tensor> grads;
  };
  auto run = [](int threads) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    Block blk;
    Result r;
    r.out = blk.forward();
    r.loss = sum(mul(r.out, blk.out_weights));
    r.loss.backward();
    for (auto& [name, p] : blk.params) r.grads[name] = p.grad();
    r.out = r.out.detach();
    return r;
  };
  const Result one = run(1);
  // The results are real numbers, and every parameter received a non-trivial gradient.
  for (double x : one.out.to_vector()) ASSERT_TRUE(std::isfinite(x));
  for (auto& [name, g] : one.grads) {
    ASSERT_TRUE(g.defined()) << name;
    double mag = 0;
    for (double x : g.to_vector()) mag += std::abs(x);
    EXPECT_GT(mag, 0.0) << name;
  }
  for (int threads : {2, 3}) {
    const Result other = run(threads);
    EXPECT_TRUE(bitwise_equal(one.out, other.out)) << "output differs with " << threads;
    EXPECT_TRUE(bitwise_equal(one.loss, other.loss)) << "loss differs with " << threads;
    for (auto& [name, g] : one.grads)
      EXPECT_TRUE(bitwise_equal(g, other.grads.at(name)))
          << "gradient of " << name << " differs with " << threads << " threads";
  }
}

TEST(Determinism, ScatterAddBackwardsBitIdenticalAcrossThreadCounts) {
  ThreadCountRestorer restore;
  auto run = [](int threads) {
    set_num_threads(threads);
    Generator gen(7);
    Tensor w = Tensor::randn({37, 96}, gen).set_requires_grad(true);
    Tensor w2 = Tensor::randn({256, 96}, gen).set_requires_grad(true);
    std::vector<int64_t> ids(6000), sel(3000), gat(256 * 200);
    for (auto& i : ids) i = static_cast<int64_t>(gen.next_u64() % 37);
    for (auto& i : sel) i = static_cast<int64_t>(gen.next_u64() % 96);
    for (auto& i : gat) i = static_cast<int64_t>(gen.next_u64() % 96);
    Tensor e = embedding(w, Tensor::from_ints(ids, {60, 100}));
    Tensor s = index_select(w, 1, Tensor::from_ints(sel, {3000}));
    Tensor g = gather(w2, 1, Tensor::from_ints(gat, {256, 200}));
    Tensor loss = add(
        add(sum(mul(e, Tensor::randn(e.shape(), gen))), sum(mul(s, Tensor::randn(s.shape(), gen)))),
        sum(mul(g, Tensor::randn(g.shape(), gen))));
    loss.backward();
    return std::pair{w.grad(), w2.grad()};
  };
  const auto one = run(1);
  for (int threads : {2, 3}) {
    const auto other = run(threads);
    EXPECT_TRUE(bitwise_equal(one.first, other.first)) << "differs with " << threads << " threads";
    EXPECT_TRUE(bitwise_equal(one.second, other.second))
        << "differs with " << threads << " threads";
  }
}

TEST(Determinism, NoGradForwardBuildsNoGraph) {
  Block blk;
  const int64_t before = Node::live_count();
  {
    NoGradGuard ng;
    Tensor out = blk.forward();
    EXPECT_EQ(Node::live_count(), before) << "a no-grad forward created autograd nodes";
    EXPECT_FALSE(out.requires_grad());
  }
  Tensor out = blk.forward();
  EXPECT_GT(Node::live_count(), before) << "a grad-mode forward should record its ops";
  EXPECT_TRUE(out.requires_grad());
}

}  // namespace
}  // namespace kiln
