// Fine-tuning the checkpoints people download (the Hub's *ForMaskedLM / *ForPreTraining) against
// transformers 4.30.2 (fixtures in ../shared/refs/models, README "Fine-tuning ground truth"):
// - the family's import keeps every encoder tensor bit-identical and drops exactly the tensors
//   transformers reports as unexpected_keys;
// - a fresh sequence-classification head over that encoder newly initialises exactly
//   transformers' missing_keys (the pooler too for BertForMaskedLM, which has none), with
//   transformers' _init_weights statistics;
// - with the reference head (finetune_head.safetensors) loaded over it, logits, hidden states and
//   pooler output within 1e-4, the loss within 1e-5 relative, and every gradient within 1e-3 of
//   the largest reference value of its tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/family.h"
#include "nn/head_transfer.h"
#include "nn/hf_checkpoint.h"
#include "nn/state_dict_io.h"

namespace kiln::nn {
namespace {

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";
constexpr const char* kSeqTask = "sequence-classification";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<std::string> strings(const nlohmann::json& j) {
  return j.get<std::vector<std::string>>();
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_floats(), y = b.to_floats();
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    m = std::max(m, static_cast<double>(std::abs(x[i] - y[i])));
  return m;
}

// The README's gradient tolerance: 1e-3 of the tensor's largest reference value (with a floor for
// the key biases, whose exact gradient is 0 and whose reference holds rounding noise only).
double grad_bound(const std::vector<float>& ref) {
  return std::max(1e-3 * max_abs(ref), 1e-6);
}

struct Encoder {
  const ModelFamily* family = nullptr;
  HfCheckpoint checkpoint;  // the tensors as stored
  ConvertedWeights kept;    // what kiln keeps
};

Encoder import(const std::string& name) {
  Encoder e;
  const std::string dir = kRefs + name;
  e.checkpoint = read_hf_checkpoint(dir);
  e.family = &family_for_config(e.checkpoint.config, dir);
  e.kept = e.family->import_checkpoint(e.checkpoint.config, e.checkpoint.tensors, dir);
  return e;
}

// The model of `config` filled from the kept encoder, with a fresh head where needed.
std::unique_ptr<Model> with_head(const Encoder& e, const nlohmann::json& config,
                                 HeadTransfer& transfer) {
  auto model = e.family->build(config, "head config");
  Generator init(1234);
  transfer = load_with_fresh_head(*e.family, *model, config, e.kept.config, e.kept.tensors, init,
                                  "encoder");
  return model;
}

nlohmann::json four_labels(const Encoder& e) {
  return e.family->config_with_head(e.kept.config, kSeqTask,
                                    {"World", "Sports", "Business", "Sci/Tech"});
}

class FinetuneReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRefs + GetParam() + "/finetune_reference.json"))
      GTEST_SKIP() << "fixtures not present";
    info_ = read_json(kRefs + GetParam() + "/finetune_reference.json");
  }
  nlohmann::json info_;
};

TEST_P(FinetuneReference, ImportKeepsTheEncoderBitIdenticalAndDropsTheUnusedKeys) {
  const Encoder e = import(GetParam());
  EXPECT_EQ(e.kept.dropped, strings(info_["unused_checkpoint_keys"]));
  // The stored model is the bare encoder, and it loads strictly.
  const auto bare = e.family->build(e.kept.config, "kept config");
  bare->load_state_dict(e.kept.tensors, /*strict=*/true, "kept");
  const StateDict stored = bare->state_dict();
  const std::string prefix = e.checkpoint.config["model_type"].get<std::string>() + ".";
  const auto keys = strings(info_["encoder_keys_equal_to_checkpoint"]["keys"]);
  ASSERT_FALSE(keys.empty());
  for (const auto& key : keys) {
    ASSERT_EQ(key.rfind(prefix, 0), 0u) << key;
    const std::string name = key.substr(prefix.size());
    ASSERT_TRUE(stored.count(name)) << name;
    const Tensor& want = e.checkpoint.tensors.at(key);
    const Tensor& got = stored.at(name);
    ASSERT_EQ(got.dtype(), want.dtype()) << name;
    ASSERT_EQ(got.shape(), want.shape()) << name;
    if (is_floating(want.dtype()))
      EXPECT_EQ(got.to_floats(), want.to_floats()) << name;
    else
      EXPECT_EQ(got.to_ints(), want.to_ints()) << name;
  }
  // Nothing else: the bare encoder's parameters are exactly those keys (less the buffer).
  size_t params = 0;
  for (const auto& [name, t] : bare->named_parameters()) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), prefix + name), keys.end()) << name;
    ++params;
  }
  EXPECT_GE(params + 1, keys.size());
}

TEST_P(FinetuneReference, FreshHeadIsWhatTransformersNewlyInitialises) {
  const Encoder e = import(GetParam());
  HeadTransfer t;
  const auto model = with_head(e, four_labels(e), t);
  EXPECT_EQ(t.newly_initialized, strings(info_["newly_initialized_keys"]));
  EXPECT_TRUE(t.dropped.empty());
  // transformers' _init_weights: Linear weight ~ N(0, initializer_range), bias 0.
  const StateDict sd = model->state_dict();
  for (const auto& name : t.newly_initialized) {
    const auto v = sd.at(name).to_floats();
    const auto& stats = info_["new_head_init"][name];
    EXPECT_EQ(sd.at(name).shape(), stats["shape"].get<Shape>()) << name;
    if (stats["all_zero"].get<bool>()) {
      EXPECT_EQ(max_abs(v), 0.0) << name;
      continue;
    }
    double mean = 0, sq = 0;
    for (float x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (float x : v) sq += (x - mean) * (x - mean);
    const double sd_got = std::sqrt(sq / static_cast<double>(v.size()));
    EXPECT_NEAR(sd_got, 0.02, 0.02 * 0.3) << name;  // 128 to 1024 draws
    EXPECT_NEAR(mean, 0.0, 0.01) << name;
  }
  // Every encoder parameter kept its value.
  for (const auto& [name, want] : e.kept.tensors) {
    const std::string under = e.family->rename_weight(e.kept.config, four_labels(e), name);
    if (is_floating(want.dtype())) EXPECT_EQ(sd.at(under).to_floats(), want.to_floats()) << name;
  }
}

TEST_P(FinetuneReference, LogitsLossAndEveryGradientMatchTransformers) {
  const std::string dir = kRefs + GetParam();
  const Encoder e = import(GetParam());
  HeadTransfer t;
  const nlohmann::json config = four_labels(e);
  const auto model = with_head(e, config, t);
  // The reference's random head, loaded over kiln's.
  StateDict weights = model->state_dict();
  for (auto& [name, tensor] : load_safetensors(dir + "/finetune_head.safetensors")) {
    ASSERT_TRUE(weights.count(name)) << name;
    weights[name] = tensor;
  }
  model->load_state_dict(weights, /*strict=*/true, "with reference head");
  model->eval();
  model->set_requires_grad(true);

  const StateDict ref = load_safetensors(dir + "/finetune_reference.safetensors");
  NamedTensors inputs;
  for (const char* n : {"input_ids", "attention_mask", "token_type_ids"})
    if (ref.count(n)) inputs[n] = ref.at(n);
  ForwardOptions opt;
  opt.hidden_states = true;
  const NamedTensors out = model->forward(inputs, opt);
  for (int i = 0; i <= 2; ++i) {
    const std::string key = "hidden_states." + std::to_string(i);
    EXPECT_LE(max_abs_diff(out.at(key), ref.at(key)), 1e-4) << key;
  }
  if (ref.count("pooler_output")) {
    ASSERT_TRUE(out.count("pooler_output"));
    EXPECT_LE(max_abs_diff(out.at("pooler_output"), ref.at("pooler_output")), 1e-4);
  }
  EXPECT_LE(max_abs_diff(out.at("logits"), ref.at("logits")), 1e-4);
  Tensor loss = cross_entropy(out.at("logits"), ref.at("labels"));
  const double want = ref.at("loss").item();
  EXPECT_LE(std::abs(loss.item() - want) / std::abs(want), 1e-5) << loss.item() << " vs " << want;

  loss.backward();
  const StateDict grads = load_safetensors(dir + "/finetune_grads.safetensors");
  size_t checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    ASSERT_TRUE(p->grad().defined()) << "no gradient reached " << name;
    const auto got = p->grad().to_floats();
    if (grads.count(name + ".rows")) {
      // The word embedding: reference rows at row_ids; every other row exactly 0.
      const auto rows = grads.at(name + ".rows").to_floats();
      const auto ids = grads.at(name + ".row_ids").to_ints();
      const int64_t h = p->size(1);
      std::vector<bool> listed(static_cast<size_t>(p->size(0)), false);
      double worst = 0;
      for (size_t r = 0; r < ids.size(); ++r) {
        listed[static_cast<size_t>(ids[r])] = true;
        for (int64_t c = 0; c < h; ++c)
          worst =
              std::max(worst, static_cast<double>(std::abs(got[ids[r] * h + c] - rows[r * h + c])));
      }
      EXPECT_LE(worst, grad_bound(rows)) << name;
      double elsewhere = 0;
      for (int64_t row = 0; row < p->size(0); ++row)
        if (!listed[static_cast<size_t>(row)])
          for (int64_t c = 0; c < h; ++c)
            elsewhere = std::max(elsewhere, static_cast<double>(std::abs(got[row * h + c])));
      EXPECT_EQ(elsewhere, 0.0) << name;
      checked += 2;
      continue;
    }
    ASSERT_TRUE(grads.count(name)) << "no reference gradient for " << name;
    const auto want_grad = grads.at(name).to_floats();
    ASSERT_EQ(got.size(), want_grad.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(got[i] - want_grad[i])));
    EXPECT_LE(worst, grad_bound(want_grad)) << name;
    ++checked;
  }
  EXPECT_EQ(checked, grads.size());  // every reference gradient was compared
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FinetuneReference,
                         ::testing::Values("bert-mlm", "roberta-mlm", "distilbert-mlm"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// BertForPreTraining (key lists only): the pooler is in the checkpoint, so only the classifier is
// new; the MLM and next-sentence heads are dropped, as transformers' loading info says.
TEST(FinetuneReference, BertPreTrainingKeepsItsPoolerAndDropsBothHeads) {
  const std::string dir = kRefs + "bert-pretraining";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
  const auto info = read_json(dir + "/reference.json")["load_into_other_classes"];
  const Encoder e = import("bert-pretraining");
  EXPECT_EQ(e.kept.dropped, strings(info["BertModel"]["loading_info"]["unexpected_keys"]));
  EXPECT_FALSE(e.kept.config.contains("add_pooling_layer"));  // a BertModel with its pooler
  HeadTransfer t;
  with_head(e, four_labels(e), t);
  EXPECT_EQ(t.newly_initialized,
            strings(info["BertForSequenceClassification"]["loading_info"]["missing_keys"]));
  EXPECT_TRUE(t.dropped.empty());
}

// The bare encoder of BertForMaskedLM has no pooler and says so in its config; a token
// classifier over it needs none, so only the classifier is new.
TEST(FinetuneReference, TokenHeadOverAMaskedLmEncoderAddsOnlyTheClassifier) {
  if (!std::filesystem::exists(kRefs + "bert-mlm")) GTEST_SKIP() << "fixtures not present";
  const Encoder e = import("bert-mlm");
  EXPECT_EQ(e.kept.config["architectures"][0], "BertModel");
  EXPECT_EQ(e.kept.config["add_pooling_layer"], false);
  EXPECT_TRUE(e.family->parse_config(e.kept.config, "kept").task.empty());
  HeadTransfer t;
  with_head(e, e.family->config_with_head(e.kept.config, "token-classification", {"O", "B-X"}), t);
  EXPECT_EQ(t.newly_initialized,
            (std::vector<std::string>{"classifier.bias", "classifier.weight"}));
}

// A tensor that is neither the encoder's nor a known head's stays an error on a strict load.
TEST(FinetuneReference, AnUnknownTensorInAMaskedLmCheckpointIsStillAnError) {
  if (!std::filesystem::exists(kRefs + "bert-mlm")) GTEST_SKIP() << "fixtures not present";
  const std::string dir = kRefs + "bert-mlm";
  HfCheckpoint ck = read_hf_checkpoint(dir);
  const ModelFamily& family = family_for_config(ck.config, dir);
  for (const char* extra : {"bert.encoder.layer.9.output.dense.weight", "adapter.weight"}) {
    StateDict tensors = ck.tensors;
    tensors[extra] = Tensor::zeros({2});
    const ConvertedWeights kept = family.import_checkpoint(ck.config, tensors, dir);
    const auto model = family.build(kept.config, dir);
    try {
      model->load_state_dict(kept.tensors, /*strict=*/true, dir);
      FAIL() << extra;
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("unexpected"), std::string::npos) << err.what();
    }
  }
}

// Old checkpoints (bert-base-uncased's among them) name LayerNorm parameters gamma/beta;
// transformers renames them on load, and so does the import.
TEST(FinetuneReference, LegacyGammaBetaNamesAreRenamed) {
  if (!std::filesystem::exists(kRefs + "bert-mlm")) GTEST_SKIP() << "fixtures not present";
  const std::string dir = kRefs + "bert-mlm";
  HfCheckpoint ck = read_hf_checkpoint(dir);
  const ModelFamily& family = family_for_config(ck.config, dir);
  StateDict legacy;
  for (const auto& [name, t] : ck.tensors) {
    std::string n = name;
    if (n.size() > 17 && n.compare(n.size() - 17, 17, ".LayerNorm.weight") == 0)
      n = n.substr(0, n.size() - 7) + ".gamma";
    else if (n.size() > 15 && n.compare(n.size() - 15, 15, ".LayerNorm.bias") == 0)
      n = n.substr(0, n.size() - 5) + ".beta";
    legacy[n] = t;
  }
  ASSERT_TRUE(legacy.count("bert.embeddings.LayerNorm.gamma"));
  const ConvertedWeights kept = family.import_checkpoint(ck.config, legacy, dir);
  EXPECT_EQ(kept.tensors.at("embeddings.LayerNorm.weight").to_floats(),
            ck.tensors.at("bert.embeddings.LayerNorm.weight").to_floats());
  EXPECT_EQ(kept.dropped.size(), 5u);
  const auto model = family.build(kept.config, dir);
  model->load_state_dict(kept.tensors, /*strict=*/true, dir);
  // Both spellings of one tensor are ambiguous.
  legacy["bert.embeddings.LayerNorm.weight"] = ck.tensors.at("bert.embeddings.LayerNorm.weight");
  EXPECT_THROW(family.import_checkpoint(ck.config, legacy, dir), Error);
}

// --reinit-head: a classifier's encoder without its head. BertForSequenceClassification keeps its
// pooler; BertForTokenClassification has none; RoBERTa's classification head is dropped whole.
TEST(FinetuneReference, WithoutHeadDropsOnlyTheTaskHead) {
  struct Case {
    const char* fixture;
    std::vector<std::string> dropped;
    bool pooler;
  };
  const std::vector<Case> cases = {
      {"bert-seqcls", {"classifier.bias", "classifier.weight"}, true},
      {"bert-tokcls", {"classifier.bias", "classifier.weight"}, false},
      {"roberta-seqcls",
       {"classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias",
        "classifier.out_proj.weight"},
       false},
      {"distilbert-seqcls",
       {"classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"},
       false}};
  for (const Case& c : cases) {
    const std::string dir = kRefs + c.fixture;
    if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
    HfCheckpoint ck = read_hf_checkpoint(dir);
    const ModelFamily& family = family_for_config(ck.config, dir);
    const ConvertedWeights bare = family.without_head(ck.config, ck.tensors, dir);
    EXPECT_EQ(bare.dropped, c.dropped) << c.fixture;
    EXPECT_EQ(bare.tensors.count("pooler.dense.weight") > 0, c.pooler) << c.fixture;
    EXPECT_FALSE(bare.config.contains("id2label")) << c.fixture;
    const auto model = family.build(bare.config, dir);
    model->load_state_dict(bare.tensors, /*strict=*/true, dir);  // exactly the bare encoder
  }
}

// A model file that lacks an encoder parameter is damaged: it is not "newly initialised".
TEST(FinetuneReference, AMissingEncoderParameterIsAnErrorNotANewParameter) {
  if (!std::filesystem::exists(kRefs + "bert-mlm")) GTEST_SKIP() << "fixtures not present";
  Encoder e = import("bert-mlm");
  e.kept.tensors.erase("encoder.layer.1.output.dense.weight");
  HeadTransfer t;
  try {
    with_head(e, four_labels(e), t);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("encoder.layer.1.output.dense.weight"),
              std::string::npos)
        << err.what();
  }
}

}  // namespace
}  // namespace kiln::nn
