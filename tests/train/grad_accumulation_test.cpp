// Gradient accumulation must give the update of one big batch: batch 4 x 1 micro-batch and
// batch 2 x 2 micro-batches see the same examples, and the micro-batches below hold different
// numbers of scored tokens (so scaling each micro-batch by 1/accumulation steps, as a naive loop
// would, gives a different gradient).
#include <gtest/gtest.h>

#include <cmath>

#include "nn/family.h"
#include "train/text_classification_task.h"
#include "train/trainer.h"

namespace kiln::train {
namespace {

nlohmann::json tiny_config() {
  return {{"model_type", "bert"},       {"architectures", {"BertForTokenClassification"}},
          {"vocab_size", 50},           {"hidden_size", 16},
          {"num_hidden_layers", 1},     {"num_attention_heads", 2},
          {"intermediate_size", 32},    {"max_position_embeddings", 32},
          {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0},
          {"classifier_dropout", 0.0},  {"id2label", {{"0", "O"}, {"1", "B-X"}, {"2", "I-X"}}}};
}

LabelledTextData examples() {
  // Lengths 3, 7, 4, 9 tokens; scored targets 1, 5, 2, 6. Micro-batches {0, 1} and {2, 3} have
  // different target counts (6, 8) and weights (8.5, 9.5).
  const std::vector<std::vector<int64_t>> labels = {
      {kIgnoreLabel, 1, kIgnoreLabel},
      {kIgnoreLabel, 1, 2, 0, 0, 1, kIgnoreLabel},
      {kIgnoreLabel, 0, 2, kIgnoreLabel},
      {kIgnoreLabel, 1, 2, 2, 0, 1, 1, kIgnoreLabel, kIgnoreLabel}};
  LabelledTextData out;
  int32_t id = 5;
  for (const auto& l : labels) {
    Example e;
    e.labels = l;
    for (size_t i = 0; i < l.size(); ++i) e.ids.push_back(id++ % 50);
    e.type_ids.assign(l.size(), 0);
    out.examples.push_back(e);
  }
  return out;
}

struct TrainerUnderTest {
  std::unique_ptr<nn::Model> model;
  TaskSetup setup;
  std::unique_ptr<Trainer> trainer;
};

std::unique_ptr<TrainerUnderTest> make(const LabelledTextData& data, int64_t batch, int64_t accum) {
  auto r = std::make_unique<TrainerUnderTest>();
  const auto& family = nn::family_for_config(tiny_config(), "test");
  r->setup.spec = family.parse_config(tiny_config(), "test");
  r->setup.labels = r->setup.spec.labels;
  r->model = family.build(tiny_config(), "test");
  Generator g(7);
  r->model->init_weights(g);
  r->model->set_requires_grad(true);
  TrainOptions o;
  o.batch_size = batch;
  o.grad_accumulation = accum;
  o.learning_rate = 1e-2;
  o.loss.class_weights = {1.0, 2.0, 0.5};  // weighted means divide by the summed weights
  o.loss.label_smoothing = 0.1;
  o.epochs = 1;
  r->trainer = std::make_unique<Trainer>(*r->model, task_by_name("token-classification"), r->setup,
                                         data, nullptr, o);
  return r;
}

TEST(GradAccumulation, GradientEqualsTheBigBatchGradient) {
  const auto data = examples();
  auto big = make(data, 4, 1), small = make(data, 2, 2);
  big->model->train();
  small->model->train();
  const double loss_big = big->trainer->accumulate({{0, 1, 2, 3}});
  const double loss_small = small->trainer->accumulate({{0, 1}, {2, 3}});
  EXPECT_NEAR(loss_big, loss_small, 1e-6);
  const auto pb = big->model->named_parameters(), ps = small->model->named_parameters();
  ASSERT_EQ(pb.size(), ps.size());
  double max_grad = 0;
  for (size_t i = 0; i < pb.size(); ++i) {
    const Tensor gb = pb[i].second->grad(), gs = ps[i].second->grad();
    ASSERT_EQ(gb.defined(), gs.defined()) << pb[i].first;
    if (!gb.defined()) continue;
    const auto a = gb.to_floats(), b = gs.to_floats();
    for (size_t k = 0; k < a.size(); ++k) {
      ASSERT_NEAR(a[k], b[k], 1e-6 + 1e-4 * std::fabs(a[k])) << pb[i].first << "[" << k << "]";
      max_grad = std::max(max_grad, static_cast<double>(std::fabs(a[k])));
    }
  }
  EXPECT_GT(max_grad, 1e-4);  // the comparison was not between zeros
}

TEST(GradAccumulation, OneUpdateGivesTheSameWeights) {
  const auto data = examples();
  auto big = make(data, 4, 1), small = make(data, 2, 2);
  std::map<std::string, std::vector<float>> before;  // copies: state_dict() shares storage
  for (const auto& [name, t] : big->model->state_dict()) before[name] = t.to_floats();
  const TrainState a = big->trainer->run(big->trainer->initial_state(), {});
  const TrainState b = small->trainer->run(small->trainer->initial_state(), {});
  EXPECT_EQ(a.global_step, 1);
  EXPECT_EQ(b.global_step, 1);
  const auto wa = big->model->state_dict(), wb = small->model->state_dict();
  double moved = 0;
  for (const auto& [name, t] : wa) {
    const auto x = t.to_floats(), y = wb.at(name).to_floats(), &x0 = before.at(name);
    for (size_t k = 0; k < x.size(); ++k) {
      ASSERT_NEAR(x[k], y[k], 1e-5) << name << "[" << k << "]";
      moved = std::max(moved, static_cast<double>(std::fabs(x[k] - x0[k])));
    }
  }
  EXPECT_GT(moved, 1e-3);  // the update happened
}

}  // namespace
}  // namespace kiln::train
