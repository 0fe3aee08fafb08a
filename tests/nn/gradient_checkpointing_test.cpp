// --gradient-checkpointing on real model families: a tiny BERT, a tiny BART, a tiny LED, a tiny
// DenseNet and the DenseNet + metadata fusion model (random weights, every dropout on, padded text)
// give bit-identical logits, parameter gradients and dropout-generator offsets with each layer
// checkpointed (core/checkpoint.h) and without. The recomputation in backward must see the dropout
// masks of the forward for this to hold.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/family.h"

namespace kiln::nn {
namespace {

struct Result {
  std::vector<float> logits;
  std::map<std::string, std::vector<float>> grads;
  uint64_t dropout_offset = 0;
};

// One training forward + backward of loss = sum(logits * fixed random weights).
Result run(Model& model, const NamedTensors& inputs, bool checkpointing, bool bf16 = false) {
  model.set_gradient_checkpointing(checkpointing);
  model.train();
  model.zero_grad();
  Generator dropout(1234);
  model.set_dropout_generator(&dropout);
  Result r;
  {
    std::optional<Bf16AutocastGuard> autocast;
    if (bf16) autocast.emplace(true);
    const Tensor logits = model.forward(inputs).at("logits");
    Generator wg(99);
    sum(mul(logits, Tensor::randn(logits.shape(), wg))).backward();
    r.logits = logits.to_floats();
  }
  r.dropout_offset = dropout.offset();
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor g = p->grad();
    r.grads[name] = g.defined() ? g.to_floats() : std::vector<float>{};
  }
  model.set_dropout_generator(nullptr);
  model.set_gradient_checkpointing(false);
  return r;
}

std::unique_ptr<Model> build(const nlohmann::json& config) {
  const ModelFamily& family = family_for_config(config, "test");
  auto model = family.build(config, "test");
  Generator g(31);
  model->init_weights(g);
  model->set_requires_grad(true);
  return model;
}

void expect_identical(Model& model, const NamedTensors& inputs, bool bf16 = false) {
  const Result plain = run(model, inputs, false, bf16), ckpt = run(model, inputs, true, bf16);
  EXPECT_EQ(plain.logits, ckpt.logits);
  EXPECT_EQ(plain.dropout_offset, ckpt.dropout_offset);
  EXPECT_GT(plain.dropout_offset, 0u);  // dropout did draw
  ASSERT_EQ(plain.grads.size(), ckpt.grads.size());
  size_t with_grad = 0;
  for (const auto& [name, g] : plain.grads) {
    EXPECT_EQ(g, ckpt.grads.at(name)) << name;
    with_grad += !g.empty();
  }
  EXPECT_GT(with_grad, plain.grads.size() / 2);
}

NamedTensors text_inputs(int64_t vocab) {
  std::vector<int64_t> ids, mask;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 9; ++i) {
      ids.push_back(3 + (b * 13 + i * 7) % (vocab - 3));
      mask.push_back(b == 1 && i >= 6 ? 0 : 1);  // the second row is padded
    }
  return {{"input_ids", Tensor::from_ints(ids, {2, 9})},
          {"attention_mask", Tensor::from_ints(mask, {2, 9})}};
}

TEST(GradientCheckpointing, BertGradientsAreBitIdentical) {
  const nlohmann::json config = {{"model_type", "bert"},
                                 {"architectures", {"BertForSequenceClassification"}},
                                 {"vocab_size", 60},
                                 {"hidden_size", 16},
                                 {"num_hidden_layers", 3},
                                 {"num_attention_heads", 2},
                                 {"intermediate_size", 32},
                                 {"max_position_embeddings", 32},
                                 {"hidden_dropout_prob", 0.1},
                                 {"attention_probs_dropout_prob", 0.1},
                                 {"id2label", {{"0", "A"}, {"1", "B"}, {"2", "C"}}}};
  auto model = build(config);
  expect_identical(*model, text_inputs(60));
}

TEST(GradientCheckpointing, BertBitIdenticalUnderBf16) {
  const nlohmann::json config = {{"model_type", "bert"},
                                 {"architectures", {"BertForTokenClassification"}},
                                 {"vocab_size", 60},
                                 {"hidden_size", 16},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 2},
                                 {"intermediate_size", 32},
                                 {"max_position_embeddings", 32},
                                 {"hidden_dropout_prob", 0.1},
                                 {"attention_probs_dropout_prob", 0.1},
                                 {"id2label", {{"0", "A"}, {"1", "B"}}}};
  auto model = build(config);
  expect_identical(*model, text_inputs(60), /*bf16=*/true);
}

nlohmann::json bart_config() {
  return {{"model_type", "bart"},
          {"architectures", {"BartForConditionalGeneration"}},
          {"vocab_size", 50},
          {"d_model", 16},
          {"encoder_layers", 2},
          {"decoder_layers", 2},
          {"encoder_attention_heads", 2},
          {"decoder_attention_heads", 2},
          {"encoder_ffn_dim", 32},
          {"decoder_ffn_dim", 32},
          {"max_position_embeddings", 64},
          {"dropout", 0.1},
          {"attention_dropout", 0.1},
          {"activation_dropout", 0.1},
          {"pad_token_id", 1},
          {"bos_token_id", 0},
          {"eos_token_id", 2},
          {"decoder_start_token_id", 2}};
}

TEST(GradientCheckpointing, BartGradientsAreBitIdentical) {
  auto model = build(bart_config());
  NamedTensors in = text_inputs(50);
  in["decoder_input_ids"] = Tensor::from_ints({2, 5, 9, 11, 4, 2, 7, 8, 30, 12}, {2, 5});
  expect_identical(*model, in);
}

TEST(GradientCheckpointing, LedGradientsAreBitIdentical) {
  std::ifstream f(std::string(KILN_SHARED_DIR) + "/refs/models/led-tiny/config.json");
  if (!f) GTEST_SKIP() << "led-tiny config absent from ../shared/refs";
  nlohmann::json config = nlohmann::json::parse(f);
  config["vocab_size"] = 50;  // small embedding: the test is about the layers
  config["dropout"] = 0.1;
  config["attention_dropout"] = 0.1;
  config["activation_dropout"] = 0.1;
  auto model = build(config);
  NamedTensors in = text_inputs(50);
  std::vector<int64_t> global(18, 0);
  global[0] = global[9] = 1;
  in["global_attention_mask"] = Tensor::from_ints(global, {2, 9});
  in["decoder_input_ids"] = Tensor::from_ints({2, 5, 9, 11, 4, 2, 7, 8, 30, 12}, {2, 5});
  expect_identical(*model, in);
}

nlohmann::json shared_config(const std::string& model) {
  std::ifstream f(std::string(KILN_SHARED_DIR) + "/refs/models/" + model + "/config.json");
  return f ? nlohmann::json::parse(f) : nlohmann::json();
}

NamedTensors image_inputs(int64_t batch) {
  Generator g(5);
  return {{"pixel_values", Tensor::randn({batch, 3, 32, 32}, g)}};
}

// Batch norm's running statistics and batch counts: updated by the forward once, not again by
// the recomputation in backward.
std::map<std::string, std::vector<float>> buffers_after_run(Model& model, const NamedTensors& in,
                                                            bool checkpointing) {
  Generator g(31);
  model.init_weights(g);
  run(model, in, checkpointing);
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, b] : model.named_buffers()) out[name] = b->to_floats();
  return out;
}

TEST(GradientCheckpointing, DenseNetGradientsAndRunningStatsAreBitIdentical) {
  nlohmann::json config = shared_config("densenet-tiny");
  if (config.is_null()) GTEST_SKIP() << "densenet-tiny config absent from ../shared/refs";
  config["drop_rate"] = 0.2;  // every dense layer draws a mask: the recomputation must redraw it
  auto model = build(config);
  const NamedTensors in = image_inputs(3);
  expect_identical(*model, in);
  const auto plain = buffers_after_run(*model, in, false);
  const auto ckpt = buffers_after_run(*model, in, true);
  EXPECT_EQ(plain, ckpt);
  EXPECT_EQ(plain.at("features.denseblock1.denselayer1.norm1.num_batches_tracked"),
            std::vector<float>{1.0f});
}

TEST(GradientCheckpointing, DenseNetBitIdenticalUnderBf16) {
  nlohmann::json config = shared_config("densenet-tiny");
  if (config.is_null()) GTEST_SKIP() << "densenet-tiny config absent from ../shared/refs";
  config["drop_rate"] = 0.2;
  auto model = build(config);
  expect_identical(*model, image_inputs(2), /*bf16=*/true);
}

TEST(GradientCheckpointing, FusionGradientsAreBitIdentical) {
  nlohmann::json config = shared_config("fusion-tiny");
  if (config.is_null()) GTEST_SKIP() << "fusion-tiny config absent from ../shared/refs";
  config["image"]["drop_rate"] = 0.2;
  auto model = build(config);
  NamedTensors in = image_inputs(2);
  Generator g(8);
  in["metadata"] = Tensor::randn({2, config.value("meta_dim", 20)}, g);
  expect_identical(*model, in);
}

}  // namespace
}  // namespace kiln::nn
