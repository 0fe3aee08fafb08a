// Building a model without allocating its parameters (nn/empty_init.h), for loading it from a
// file: each family's build makes placeholders of the right names, shapes and dtypes at no memory
// cost; loading a state dict into it gives the model the old path (a model of zeros, then loaded)
// gave, bit for bit, in inference and over a few training steps; a tensor the file lacks is an
// error naming the file and the tensor, except the buffers that have a default.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/storage.h"
#include "nn/densenet.h"
#include "nn/empty_init.h"
#include "nn/family.h"
#include "tests/common/reference_checks.h"
#include "tests/common/tiny_configs.h"
#include "train/optimizer.h"

namespace kiln::nn {
namespace {

using testing::message_of;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The buffers a file may lack: built with their defaults even under EmptyInit.
bool has_default(const std::string& name) {
  for (const char* d : {"position_ids", "final_logits_bias", "num_batches_tracked"})
    if (contains(name, d)) return true;
  return false;
}

struct Case {
  std::string name;
  nlohmann::json config;
  NamedTensors inputs;  // empty: the build is checked, not the forward
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"bert", testing::tiny_bert_config(), testing::tiny_text_inputs(40, false)});
  // BART: the shared embedding tied to both stacks and the LM head, and final_logits_bias.
  out.push_back({"bart", testing::tiny_bart_config(), testing::tiny_text_inputs(40, true)});
  out.push_back({"led", testing::tiny_led_config(), testing::tiny_text_inputs(12, true)});
  // DenseNet: convolutions and batch norms, whose running statistics are file-backed buffers.
  Generator g(5);
  out.push_back({"densenet",
                 {{"architecture", "torchvision.models.DenseNet"},
                  {"stem", "small"},
                  {"growth_rate", 4},
                  {"block_config", {1, 1}},
                  {"num_init_features", 8},
                  {"bn_size", 2},
                  {"num_classes", 3}},
                 {{"pixel_values", Tensor::randn({2, 3, 8, 8}, g)}}});
  // The fusion model (fusion_logits, a direct parameter) and its metadata MLP branch alone.
  const std::string fusion = std::string(KILN_SHARED_DIR) + "/refs/models/fusion-tiny/config.json";
  if (std::filesystem::exists(fusion)) {
    const auto j = nlohmann::json::parse(std::ifstream(fusion));
    out.push_back({"fusion", j, {}});
    out.push_back({"metadata_mlp",
                   {{"model_type", "metadata-mlp"},
                    {"meta_hidden", j["meta_hidden"]},
                    {"class_names", j["class_names"]},
                    {"metadata_encoding", j["metadata_encoding"]}},
                   {}});
  }
  return out;
}

std::unique_ptr<Model> build(const nlohmann::json& config, bool empty) {
  EmptyInit scope(empty);
  return family_for_config(config, "test").build(config, "test");
}

// Seeded weights; a DenseNet's batch norms get statistics that are not the defaults, so that a
// default left in place would show.
StateDict seeded_state(const nlohmann::json& config) {
  auto m = build(config, false);
  Generator gen(11);
  m->init_weights(gen);
  NoGradGuard ng;
  for (auto& [name, b] : m->named_buffers()) {
    if (contains(name, "running_mean")) copy_(*b, mul(Tensor::randn(b->shape(), gen), 0.3));
    if (contains(name, "running_var")) copy_(*b, add(Tensor::rand(b->shape(), gen), 0.5));
  }
  StateDict out;
  for (auto& [name, t] : m->state_dict()) out[name] = t.clone();
  return out;
}

// Fresh copies: a loaded model adopts the tensors it is given and training writes into them.
StateDict copies(const StateDict& s) {
  StateDict out;
  for (const auto& [name, t] : s) out[name] = t.clone();
  return out;
}

std::vector<std::pair<std::string, std::pair<Shape, DType>>> layout(const Module& m, bool buffers) {
  std::vector<std::pair<std::string, std::pair<Shape, DType>>> out;
  for (const auto& [name, t] : buffers ? m.named_buffers() : m.named_parameters())
    out.push_back({name, {t->shape(), t->dtype()}});
  return out;
}

std::vector<Case> cases_with_inputs() {
  std::vector<Case> out;
  for (Case& c : cases())
    if (!c.inputs.empty()) out.push_back(std::move(c));
  return out;
}

class EmptyInitBuild : public ::testing::TestWithParam<Case> {};
class EmptyInitLoad : public ::testing::TestWithParam<Case> {};

TEST_P(EmptyInitBuild, MakesPlaceholdersOfTheSameLayoutAtNoMemoryCost) {
  const Case& c = GetParam();
  const size_t before = allocator::stats().bytes_in_use;
  const auto full = build(c.config, false);
  const size_t full_bytes = allocator::stats().bytes_in_use - before;
  const auto empty = build(c.config, true);
  const size_t empty_bytes = allocator::stats().bytes_in_use - before - full_bytes;
  EXPECT_FALSE(empty_init_active());
  EXPECT_EQ(layout(*empty, false), layout(*full, false));
  EXPECT_EQ(layout(*empty, true), layout(*full, true));
  EXPECT_EQ(empty->parameter_aliases(), full->parameter_aliases());  // ties are kept
  for (const auto& [name, t] : empty->named_parameters()) EXPECT_TRUE(is_placeholder(*t)) << name;
  for (const auto& [name, t] : empty->named_buffers())
    EXPECT_EQ(is_placeholder(*t), !has_default(name)) << name;
  for (const auto& [name, t] : full->named_parameters()) EXPECT_FALSE(is_placeholder(*t)) << name;
  // Only the defaulted buffers take memory (a few hundred bytes here).
  EXPECT_LT(empty_bytes * 10, full_bytes) << empty_bytes << " of " << full_bytes;
}

TEST_P(EmptyInitLoad, GivesTheOldPathsModelBitForBitInInferenceAndTraining) {
  const Case& c = GetParam();
  const StateDict state = seeded_state(c.config);
  auto old_path = build(c.config, false), new_path = build(c.config, true);
  old_path->load_state_dict(copies(state), /*strict=*/false, "old");
  new_path->load_state_dict(copies(state), /*strict=*/false, "m.kiln");
  check_no_placeholders(*new_path, "m.kiln");
  {
    old_path->eval(), new_path->eval();
    NoGradGuard ng;
    EXPECT_EQ(old_path->forward(c.inputs).at("logits").to_floats(),
              new_path->forward(c.inputs).at("logits").to_floats());
  }
  // Fine-tuning from the file, as kiln train --model does: two AdamW steps.
  auto train = [&](Model& m) {
    m.set_requires_grad(true);
    m.train();
    train::AdamW opt(m.named_parameters(), {});
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      const Tensor logits = m.forward(c.inputs).at("logits");
      Generator wg(99);
      sum(mul(logits, Tensor::randn(logits.shape(), wg))).backward();
      opt.step();
    }
  };
  train(*old_path);
  train(*new_path);
  const StateDict a = old_path->state_dict(), b = new_path->state_dict();
  ASSERT_EQ(a.size(), b.size());
  size_t changed = 0;
  for (const auto& [name, t] : a) {
    EXPECT_EQ(t.to_vector(), b.at(name).to_vector()) << name;
    changed += t.to_vector() != state.at(name).to_vector();
  }
  EXPECT_GT(changed, a.size() / 2);  // the steps did train
}

INSTANTIATE_TEST_SUITE_P(Families, EmptyInitBuild, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Families, EmptyInitLoad, ::testing::ValuesIn(cases_with_inputs()),
                         [](const auto& info) { return info.param.name; });

const Case& find_case(const std::string& name) {
  static const std::vector<Case> all = cases();
  for (const Case& c : all)
    if (c.name == name) return c;
  throw Error("no case " + name);
}

TEST(EmptyInit, AMissingBufferWithoutADefaultIsRefusedNamingTheFileAndTheTensor) {
  const Case& c = find_case("densenet");
  StateDict state = seeded_state(c.config);
  state.erase("features.transition1.norm.running_var");
  state.erase("features.denseblock1.denselayer1.norm1.running_mean");
  auto m = build(c.config, true);
  m->load_state_dict(state, /*strict=*/false, "m.kiln");  // buffers are optional here ...
  const std::string msg = message_of([&] { check_no_placeholders(*m, "m.kiln"); });
  // ... but a placeholder must not run: both named, with the file.
  EXPECT_TRUE(contains(msg, "m.kiln: the file has no tensor for ")) << msg;
  EXPECT_TRUE(contains(msg, "features.transition1.norm.running_var")) << msg;
  EXPECT_TRUE(contains(msg, "features.denseblock1.denselayer1.norm1.running_mean")) << msg;
  // num_batches_tracked, absent from older torchvision files, is not required.
  state = seeded_state(c.config);
  state.erase("features.transition1.norm.num_batches_tracked");
  m = build(c.config, true);
  m->load_state_dict(state, /*strict=*/false, "m.kiln");
  check_no_placeholders(*m, "m.kiln");
  // A missing parameter stays load_state_dict's error.
  state.erase("classifier.weight");
  m = build(c.config, true);
  const std::string param = message_of([&] { m->load_state_dict(state, false, "m.kiln"); });
  EXPECT_TRUE(contains(param, "m.kiln: missing parameters: classifier.weight")) << param;
}

TEST(EmptyInit, BuffersWithADefaultMayBeAbsent) {
  StateDict bert = seeded_state(find_case("bert").config);
  ASSERT_TRUE(bert.erase("bert.embeddings.position_ids"));
  auto m = build(find_case("bert").config, true);
  m->load_state_dict(bert, /*strict=*/false, "bert.kiln");
  check_no_placeholders(*m, "bert.kiln");
  EXPECT_EQ(m->state_dict().at("bert.embeddings.position_ids").to_ints(),
            reshape(Tensor::arange(32), {1, -1}).to_ints());

  StateDict bart = seeded_state(find_case("bart").config);
  ASSERT_TRUE(bart.erase("final_logits_bias"));
  m = build(find_case("bart").config, true);
  m->load_state_dict(bart, /*strict=*/false, "bart.kiln");
  check_no_placeholders(*m, "bart.kiln");
  EXPECT_EQ(m->state_dict().at("final_logits_bias").to_vector(), std::vector<double>(40, 0.0));
}

TEST(EmptyInit, ScopeIsPerThreadNestsAndPlaceholdersAreReadOnly) {
  EXPECT_FALSE(empty_init_active());
  const Tensor real = new_state_tensor({2, 3}, 1.0);
  EXPECT_FALSE(is_placeholder(real));
  EXPECT_EQ(real.to_vector(), std::vector<double>(6, 1.0));
  {
    EmptyInit outer;
    {
      EmptyInit off(false);  // changes nothing
      EXPECT_TRUE(empty_init_active());
    }
    EXPECT_TRUE(empty_init_active());
    bool other_thread = true;
    std::thread([&] { other_thread = empty_init_active(); }).join();
    EXPECT_FALSE(other_thread);
    const Tensor p = new_state_tensor({1000, 1000}, 1.0, DType::BF16);
    EXPECT_TRUE(is_placeholder(p));
    EXPECT_EQ(p.shape(), Shape({1000, 1000}));
    EXPECT_EQ(p.dtype(), DType::BF16);
    EXPECT_EQ(p.storage()->nbytes(), 2u);  // one element
    // A write into a placeholder is refused, never spread over every placeholder.
    EXPECT_NE(message_of([&] { fill_(p, 3.0); }), "(no error)");
    // A size-0 tensor is simply empty.
    EXPECT_FALSE(is_placeholder(new_state_tensor({0, 4}, 0.0)));
  }
  EXPECT_FALSE(empty_init_active());
}

}  // namespace
}  // namespace kiln::nn
