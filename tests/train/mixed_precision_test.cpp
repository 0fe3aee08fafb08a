// kiln train --bf16 (TrainOptions::bf16): 50 AdamW updates of a tiny BERT tagger (dropout on)
// track the f32 run's loss: every logged loss within 0.005 (absolute; the losses start near 1.1
// and fall to about 0.09; measured: at most 0.0004 apart), and the mean of the last 10 within 1%
// of f32's (bf16 rounds each GEMM operand to 8 significant bits, so the runs drift apart a
// little, not more).
// Repeating the bf16 run gives bit-identical losses and weights. Also: --gradient-checkpointing
// gives the f32 run's weights bit for bit after the same 50 updates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "nn/family.h"
#include "train/text_classification_task.h"
#include "train/trainer.h"

namespace kiln::train {
namespace {

nlohmann::json tiny_config() {
  return {{"model_type", "bert"},       {"architectures", {"BertForTokenClassification"}},
          {"vocab_size", 40},           {"hidden_size", 32},
          {"num_hidden_layers", 2},     {"num_attention_heads", 2},
          {"intermediate_size", 64},    {"max_position_embeddings", 32},
          {"hidden_dropout_prob", 0.1}, {"attention_probs_dropout_prob", 0.1},
          {"classifier_dropout", 0.1},  {"id2label", {{"0", "O"}, {"1", "B-X"}, {"2", "I-X"}}}};
}

// 20 sentences whose tags follow from the tokens (ids 10-19 start an entity, 20-29 continue it).
LabelledTextData examples() {
  LabelledTextData out;
  uint32_t s = 12345;
  auto next = [&] { return s = s * 1664525u + 1013904223u, (s >> 8) % 30; };
  for (int n = 0; n < 20; ++n) {
    Example e;
    e.ids.push_back(2);
    e.labels.push_back(kIgnoreLabel);
    const int len = 6 + n % 5;
    for (int i = 0; i < len; ++i) {
      const int32_t id = 5 + static_cast<int32_t>(next());
      e.ids.push_back(id);
      e.labels.push_back(id >= 10 && id < 20 ? 1 : id >= 20 && id < 30 ? 2 : 0);
    }
    e.ids.push_back(3);
    e.labels.push_back(kIgnoreLabel);
    e.type_ids.assign(e.ids.size(), 0);
    out.examples.push_back(e);
  }
  return out;
}

struct TrainRun {
  std::vector<double> losses;
  std::map<std::string, std::vector<float>> weights;
};

TrainRun train(bool bf16, bool checkpointing = false) {
  const auto data = examples();
  const auto& family = nn::family_for_config(tiny_config(), "test");
  TaskSetup setup;
  setup.spec = family.parse_config(tiny_config(), "test");
  setup.labels = setup.spec.labels;
  auto model = family.build(tiny_config(), "test");
  Generator g(7);
  model->init_weights(g);
  model->set_requires_grad(true);
  TrainOptions o;
  o.batch_size = 4;
  o.learning_rate = 3e-3;
  o.epochs = 10;  // 5 updates per epoch: 50 in all
  o.logging_steps = 1;
  o.bf16 = bf16;
  o.gradient_checkpointing = checkpointing;
  Trainer trainer(*model, task_by_name("token-classification"), setup, data, nullptr, o);
  TrainRun r;
  TrainHooks hooks;
  hooks.log = [&](const nlohmann::json& j) {
    if (j.contains("loss")) r.losses.push_back(j.at("loss").get<double>());
  };
  trainer.run(trainer.initial_state(), hooks);
  for (const auto& [name, t] : model->state_dict()) r.weights[name] = t.to_floats();
  return r;
}

double mean_last(const std::vector<double>& v, size_t n) {
  double s = 0;
  for (size_t i = v.size() - n; i < v.size(); ++i) s += v[i];
  return s / static_cast<double>(n);
}

TEST(MixedPrecision, Bf16TracksF32LossOver50Steps) {
  const TrainRun f32 = train(false), bf16 = train(true);
  ASSERT_EQ(f32.losses.size(), 50u);
  ASSERT_EQ(bf16.losses.size(), 50u);
  double worst = 0;
  for (size_t i = 0; i < 50; ++i) {
    EXPECT_NEAR(bf16.losses[i], f32.losses[i], 0.005) << "update " << i + 1;
    worst = std::max(worst, std::fabs(bf16.losses[i] - f32.losses[i]));
  }
  const double end32 = mean_last(f32.losses, 10), end16 = mean_last(bf16.losses, 10);
  std::printf("loss: first %.4f, last-10 mean f32 %.4f bf16 %.4f, largest step difference %.4f\n",
              f32.losses[0], end32, end16, worst);
  EXPECT_NEAR(end16, end32, 0.01 * end32);
  EXPECT_LT(end32, 0.5 * f32.losses[0]);  // it learned something
  EXPECT_NE(f32.weights, bf16.weights);   // and bf16 really ran
}

TEST(MixedPrecision, Bf16RunsAreDeterministic) {
  const TrainRun a = train(true), b = train(true);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.weights, b.weights);
}

TEST(MixedPrecision, CheckpointingGivesTheSameWeights) {
  const TrainRun plain = train(false), ckpt = train(false, true);
  EXPECT_EQ(plain.losses, ckpt.losses);
  EXPECT_EQ(plain.weights, ckpt.weights);
}

}  // namespace
}  // namespace kiln::train
