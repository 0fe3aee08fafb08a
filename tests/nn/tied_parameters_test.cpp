// Tied parameters (Module::tie_parameter, or one child registered under two names): one tensor,
// gradients from every use accumulated into it, listed and stored once under its canonical name,
// loadable under any of its names, and kept row-major when packing for inference.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "train/optimizer.h"

namespace kiln::nn {
namespace {

constexpr int64_t kVocab = 11, kDim = 6;

// A toy language model whose output projection reuses the embedding matrix (as BART's lm_head).
class ToyLm : public Module {
 public:
  explicit ToyLm(bool tied) {
    embed = register_module("embed", std::make_shared<Embedding>(kVocab, kDim));
    lm_head = register_module("lm_head", std::make_shared<Linear>(kDim, kVocab, /*bias=*/false));
    if (tied) tie_parameter("lm_head.weight", "embed.weight");
  }
  Tensor forward(const Tensor& ids) const { return lm_head->forward(tanh(embed->forward(ids))); }
  std::shared_ptr<Embedding> embed;
  std::shared_ptr<Linear> lm_head;
};

Tensor random_matrix(uint64_t seed) {
  Generator g(seed);
  return Tensor::randn({kVocab, kDim}, g, DType::F32);
}

const Tensor& token_ids() {
  static const Tensor ids = Tensor::from_ints({1, 4, 4, 9, 0, 10, 3}, {7});
  return ids;
}

Tensor loss_of(const ToyLm& m) {
  static const Tensor targets = Tensor::from_ints({2, 4, 7, 1, 1, 0, 9}, {7});
  return cross_entropy(m.forward(token_ids()), targets);
}

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor*>>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

TEST(TiedParameters, BothNamesHoldOneTensor) {
  ToyLm m(/*tied=*/true);
  EXPECT_TRUE(m.embed->weight.same(m.lm_head->weight));
  NoGradGuard ng;
  copy_(m.embed->weight, random_matrix(1));
  EXPECT_EQ(m.lm_head->weight.to_vector(), m.embed->weight.to_vector());
}

TEST(TiedParameters, GradientIsTheSumOfBothUses) {
  const Tensor w = random_matrix(2);
  ToyLm tied(true), untied(false);
  {
    NoGradGuard ng;
    copy_(tied.embed->weight, w);
    copy_(untied.embed->weight, w);
    copy_(untied.lm_head->weight, w);
  }
  tied.set_requires_grad(true);
  untied.set_requires_grad(true);
  loss_of(tied).backward();
  loss_of(untied).backward();

  const Tensor from_lookup = untied.embed->weight.grad(), from_head = untied.lm_head->weight.grad();
  ASSERT_TRUE(from_lookup.defined() && from_head.defined());
  // Both uses contribute, so the test fails if either one's gradient is dropped.
  EXPECT_GT(sum_of_squares(from_lookup).item(), 1e-6);
  EXPECT_GT(sum_of_squares(from_head).item(), 1e-6);
  const std::vector<double> a = from_lookup.to_vector(), b = from_head.to_vector();
  const Tensor g = tied.embed->weight.grad();
  ASSERT_TRUE(g.defined());
  EXPECT_TRUE(tied.lm_head->weight.grad().same(g));
  const std::vector<double> got = g.to_vector();
  ASSERT_EQ(got.size(), a.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], static_cast<float>(a[i]) + static_cast<float>(b[i]), 1e-6) << i;
}

TEST(TiedParameters, ListedAndStoredOnceUnderTheCanonicalName) {
  ToyLm m(true);
  EXPECT_EQ(names(m.named_parameters()), std::vector<std::string>{"embed.weight"});
  EXPECT_EQ(m.parameter_count(), kVocab * kDim);
  EXPECT_EQ(m.parameter_aliases(),
            (std::map<std::string, std::string>{{"lm_head.weight", "embed.weight"}}));
  const StateDict sd = m.state_dict();
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd.begin()->first, "embed.weight");
}

TEST(TiedParameters, AdamWUpdatesTheTiedTensorOnce) {
  ToyLm m(true);
  {
    NoGradGuard ng;
    copy_(m.embed->weight, random_matrix(3));
  }
  m.set_requires_grad(true);
  loss_of(m).backward();
  // The same update on a lone copy of the tensor with the same gradient.
  Tensor lone = m.embed->weight.detach().clone();
  lone.set_grad(m.embed->weight.grad().clone());
  train::AdamW expected({{"w", &lone}}, train::AdamWOptions{});
  train::AdamW opt(m.named_parameters(), train::AdamWOptions{});
  expected.step();
  opt.step();
  EXPECT_EQ(m.embed->weight.to_vector(), lone.to_vector());
  EXPECT_TRUE(m.lm_head->weight.same(m.embed->weight));
}

TEST(TiedParameters, LoadsFromTheAliasName) {
  ToyLm m(true);
  const Tensor w = random_matrix(4);
  m.load_state_dict({{"lm_head.weight", w}}, /*strict=*/true);
  EXPECT_EQ(m.embed->weight.to_vector(), w.to_vector());
  EXPECT_TRUE(m.lm_head->weight.same(m.embed->weight));
}

TEST(TiedParameters, StrictLoadWithBothNamesPrefersTheCanonical) {
  ToyLm m(true);
  const Tensor canonical = random_matrix(5), alias = random_matrix(6);
  m.load_state_dict({{"embed.weight", canonical}, {"lm_head.weight", alias}}, /*strict=*/true);
  EXPECT_EQ(m.embed->weight.to_vector(), canonical.to_vector());
  EXPECT_EQ(m.lm_head->weight.to_vector(), canonical.to_vector());
}

TEST(TiedParameters, NamesOfOneTensorMustAgreeInShape) {
  ToyLm m(true);
  Generator g(7);
  EXPECT_THROW(m.load_state_dict({{"embed.weight", random_matrix(8)},
                                  {"lm_head.weight", Tensor::randn({kVocab, kDim + 1}, g)}}),
               Error);
}

TEST(TiedParameters, MissingErrorNamesEveryName) {
  ToyLm m(true);
  try {
    m.load_state_dict({}, /*strict=*/true);
    FAIL() << "an empty state dict loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("embed.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("lm_head.weight"), std::string::npos) << what;
  }
}

TEST(TiedParameters, ReplacingTheTensorUnderOneNameMovesTheOthers) {
  ToyLm m(true);
  for (auto& [name, p] : m.named_parameters()) *p = p->clone();
  m.eval();  // any traversal re-ties
  EXPECT_TRUE(m.lm_head->weight.same(m.embed->weight));
  // Replaced under the alias name (e.g. through a Linear's reference).
  m.lm_head->weight = random_matrix(9);
  const auto params = m.named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_TRUE(params[0].second->same(m.lm_head->weight));
  EXPECT_EQ(m.embed->weight.to_vector(), random_matrix(9).to_vector());
}

TEST(TiedParameters, PackingKeepsATiedWeightForItsOtherUsers) {
  ToyLm m(true);
  {
    NoGradGuard ng;
    copy_(m.embed->weight, random_matrix(10));
  }
  m.eval();
  NoGradGuard ng;
  const std::vector<double> before = m.forward(token_ids()).to_vector();
  m.pack_for_inference(/*release_weights=*/true);
  EXPECT_TRUE(m.lm_head->weight.defined());
  EXPECT_EQ(m.forward(token_ids()).to_vector(), before);
  EXPECT_EQ(m.state_dict().size(), 1u);  // nothing was released
}

// BART's four names for one matrix, tied in an order that merges two groups.
TEST(TiedParameters, TransitiveTiesMergeIntoOneTensor) {
  Group root;
  auto model = root.group("model");
  model->add("shared", std::make_shared<Embedding>(kVocab, kDim));
  model->group("encoder")->add("embed_tokens", std::make_shared<Embedding>(kVocab, kDim));
  model->group("decoder")->add("embed_tokens", std::make_shared<Embedding>(kVocab, kDim));
  auto head = root.add("lm_head", std::make_shared<Linear>(kDim, kVocab, false));
  root.tie_parameter("lm_head.weight", "model.decoder.embed_tokens.weight");
  root.tie_parameter("model.encoder.embed_tokens.weight", "model.shared.weight");
  root.tie_parameter("model.decoder.embed_tokens.weight", "model.shared.weight");
  EXPECT_EQ(names(root.named_parameters()), std::vector<std::string>{"model.shared.weight"});
  EXPECT_EQ(root.parameter_aliases(),
            (std::map<std::string, std::string>{
                {"lm_head.weight", "model.shared.weight"},
                {"model.decoder.embed_tokens.weight", "model.shared.weight"},
                {"model.encoder.embed_tokens.weight", "model.shared.weight"}}));
  const Tensor w = random_matrix(11);
  root.load_state_dict({{"model.decoder.embed_tokens.weight", w}, {"lm_head.weight", w}});
  EXPECT_EQ(head->weight.to_vector(), w.to_vector());
  EXPECT_THROW(root.tie_parameter("lm_head.bias", "model.shared.weight"), Error);  // no bias
  EXPECT_THROW(root.tie_parameter("model.nowhere.weight", "model.shared.weight"), Error);
  root.add("wide", std::make_shared<Linear>(kDim, kVocab + 1, false));
  EXPECT_THROW(root.tie_parameter("wide.weight", "model.shared.weight"), Error);  // shapes differ
}

TEST(TiedParameters, AChildRegisteredTwiceIsOneSetOfTensors) {
  Group root;
  auto shared = std::make_shared<Linear>(3, 2);
  root.add("first", shared);
  root.add("second", shared);
  EXPECT_EQ(names(root.named_parameters()),
            (std::vector<std::string>{"first.weight", "first.bias"}));
  EXPECT_EQ(root.parameter_aliases(),
            (std::map<std::string, std::string>{{"second.bias", "first.bias"},
                                                {"second.weight", "first.weight"}}));
  EXPECT_EQ(root.state_dict().size(), 2u);
  Generator g(12);
  const Tensor w = Tensor::randn({2, 3}, g), b = Tensor::randn({2}, g);
  root.load_state_dict({{"second.weight", w}, {"first.bias", b}}, /*strict=*/true);
  EXPECT_EQ(shared->weight.to_vector(), w.to_vector());
  EXPECT_EQ(shared->bias.to_vector(), b.to_vector());
}

TEST(TiedParameters, ADestroyedMemberLeavesTheOthersTied) {
  Group root;
  auto keep = root.add("keep", std::make_shared<Embedding>(kVocab, kDim));
  {
    Group scratch;
    scratch.add("a", keep);
    scratch.add("b", std::make_shared<Linear>(kDim, kVocab, false));
    scratch.tie_parameter("b.weight", "a.weight");
  }  // the Linear dies with `scratch`
  const Tensor w = random_matrix(13);
  root.load_state_dict({{"keep.weight", w}});
  EXPECT_EQ(keep->weight.to_vector(), w.to_vector());
}

}  // namespace
}  // namespace kiln::nn
