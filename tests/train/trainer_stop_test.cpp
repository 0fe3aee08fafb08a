// TrainHooks::stop_requested (Ctrl-C in `kiln train`): stopping after any update, including an
// epoch's last one (before its evaluation), writes a checkpoint from which a new trainer ends with
// the same bits as a run that never stopped. Dropout is on, so the generator states matter.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>

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
          {"hidden_dropout_prob", 0.1}, {"id2label", {{"0", "O"}, {"1", "B-X"}, {"2", "I-X"}}}};
}

LabelledTextData examples() {
  LabelledTextData out;
  int32_t id = 5;
  for (int n = 0; n < 6; ++n) {
    Example e;
    const int len = 3 + n % 4;
    for (int i = 0; i < len; ++i) {
      e.ids.push_back(id++ % 50);
      const bool special = i == 0 || i == len - 1;  // [CLS], [SEP]
      e.labels.push_back(special ? kIgnoreLabel : (n + i) % 3);
      if (!special) {  // one word per token, for the evaluation
        e.word_labels.push_back((n + i) % 3);
        e.word_tokens.push_back(i);
      }
    }
    e.type_ids.assign(e.ids.size(), 0);
    out.examples.push_back(e);
  }
  return out;
}

// What a checkpoint holds, copied out of the trainer.
struct Saved {
  TrainState state;
  nn::StateDict weights;
  OptimizerState optimizer;
};

struct Run {
  std::unique_ptr<nn::Model> model;
  TaskSetup setup;
  std::unique_ptr<Trainer> trainer;
};

std::unique_ptr<Run> make(const LabelledTextData& data) {
  auto r = std::make_unique<Run>();
  const auto& family = nn::family_for_config(tiny_config(), "test");
  r->setup.spec = family.parse_config(tiny_config(), "test");
  r->setup.labels = r->setup.spec.labels;
  r->model = family.build(tiny_config(), "test");
  Generator g(7);
  r->model->init_weights(g);
  r->model->set_requires_grad(true);
  TrainOptions o;
  o.batch_size = 2;  // 3 updates per epoch
  o.learning_rate = 1e-2;
  o.epochs = 3;
  r->trainer = std::make_unique<Trainer>(*r->model, task_by_name("token-classification"), r->setup,
                                         data, &data, o);
  return r;
}

Saved snapshot(const Run& r, const TrainState& s) {
  Saved out{s, {}, r.trainer->optimizer().state_dict()};
  for (const auto& [name, t] : r.model->state_dict()) out.weights[name] = t.detach().clone();
  for (auto& [slot, by_name] : out.optimizer.slots)
    for (auto& [name, t] : by_name) t = t.detach().clone();
  return out;
}

void expect_same_weights(const nn::Model& a, const nn::Model& b, const std::string& what) {
  const auto wa = a.state_dict(), wb = b.state_dict();
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    const Tensor u = wb.at(name).contiguous(), v = t.contiguous();
    ASSERT_EQ(v.nbytes(), u.nbytes());
    EXPECT_EQ(std::memcmp(v.raw_data(), u.raw_data(), v.nbytes()), 0) << name << " " << what;
  }
}

TEST(TrainerStop, StopAfterAnyUpdateResumesBitExactly) {
  const auto data = examples();
  auto straight = make(data);
  Saved last;
  TrainHooks plain;
  plain.checkpoint = [&](const TrainState& s) { last = snapshot(*straight, s); };
  const TrainState done = straight->trainer->run(straight->trainer->initial_state(), plain);
  ASSERT_TRUE(done.finished);
  ASSERT_EQ(done.global_step, 9);

  for (int64_t stop_at = 1; stop_at < 9; ++stop_at) {
    SCOPED_TRACE("stop after update " + std::to_string(stop_at));
    auto first = make(data);
    int64_t updates = 0, evals = 0;
    std::optional<Saved> saved;
    TrainHooks hooks;
    hooks.progress = [&](int64_t done_updates, int64_t, double) { updates = done_updates; };
    hooks.stop_requested = [&] { return updates >= stop_at; };
    hooks.checkpoint = [&](const TrainState& s) { saved = snapshot(*first, s); };
    hooks.log = [&](const nlohmann::json& j) { evals += j.contains("eval"); };
    const TrainState stopped = first->trainer->run(first->trainer->initial_state(), hooks);
    ASSERT_TRUE(saved.has_value());
    EXPECT_FALSE(stopped.finished);
    EXPECT_EQ(stopped.global_step, stop_at);
    EXPECT_EQ(saved->state.to_json(), stopped.to_json());
    // An epoch's last update stops before its evaluation: the checkpoint is at position 3 of the
    // same epoch, and the resumed run evaluates it.
    EXPECT_EQ(evals, (stop_at - 1) / 3);
    if (stop_at % 3 == 0) {
      EXPECT_EQ(saved->state.position, 3);
      EXPECT_EQ(saved->state.epoch, stop_at / 3 - 1);
    }

    auto resumed = make(data);
    resumed->model->load_state_dict(saved->weights, /*strict=*/true, "checkpoint");
    resumed->trainer->restore(saved->optimizer);
    Saved end;
    TrainHooks rest;
    rest.checkpoint = [&](const TrainState& s) { end = snapshot(*resumed, s); };
    const TrainState final_state = resumed->trainer->run(saved->state, rest);
    EXPECT_EQ(final_state.to_json(), done.to_json());
    expect_same_weights(*straight->model, *resumed->model, "differs after the resume");
  }
}

TEST(TrainerStop, StopRequestedDuringTheEvaluationEndsAfterTheEpochCheckpoint) {
  const auto data = examples();
  auto r = make(data);
  int checkpoints = 0;
  bool evaluated = false;
  TrainHooks hooks;
  hooks.log = [&](const nlohmann::json& j) { evaluated |= j.contains("eval"); };
  hooks.stop_requested = [&] { return evaluated; };  // as if Ctrl-C came during the evaluation
  hooks.checkpoint = [&](const TrainState&) { ++checkpoints; };
  const TrainState s = r->trainer->run(r->trainer->initial_state(), hooks);
  EXPECT_EQ(checkpoints, 1);  // the epoch-end one only
  EXPECT_EQ(s.epoch, 1);
  EXPECT_EQ(s.position, 0);
  EXPECT_EQ(s.global_step, 3);
}

}  // namespace
}  // namespace kiln::train
