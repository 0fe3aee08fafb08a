// Optimizer state by parameter name through write_checkpoint / read_checkpoint: N steps straight
// and k steps, checkpoint, a fresh optimizer, N - k steps end at the same bits (AdamW and SGD);
// mismatched checkpoints (another optimizer kind, an unknown parameter, another shape, a partial
// state) are errors; the earlier adam_m./adam_v. layout still loads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/state_dict_io.h"
#include "train/run_dir.h"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() /
              ("kiln-opt-ckpt-" + tag + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// A stand-in for a model: named f32 tensors the optimizer updates in place.
struct Weights {
  nn::StateDict tensors;
  NamedParams named() {
    NamedParams out;
    for (auto& [name, t] : tensors) out.emplace_back(name, &t);
    return out;
  }
};

Weights initial_weights(const std::vector<std::string>& names = {"a.bias", "a.weight",
                                                                 "b.weight"}) {
  Generator g(5);
  Weights w;
  for (const auto& name : names)
    w.tensors[name] = Tensor::randn(name == "a.bias" ? Shape{6} : Shape{6, 4}, g);
  return w;
}

// Gradients that depend on the weights (so any divergence grows) plus seeded noise; "b.weight"
// gets none in the first steps, so at the checkpoint it has no optimizer state yet.
void set_gradients(Weights& w, int64_t step) {
  Generator g(100 + static_cast<uint64_t>(step));
  for (auto& [name, t] : w.tensors) {
    t.zero_grad();
    if (name == "b.weight" && step < 3) continue;
    t.set_grad(add(mul(t, 0.5), Tensor::randn(t.shape(), g)));
  }
}

OptimizerOptions options_for(const std::string& kind) {
  OptimizerOptions o;
  o.lr = kind == "sgd" ? 0.05 : 1e-2;
  o.weight_decay = 0.01;
  o.momentum = 0.9;
  o.nesterov = true;
  o.decay = OptimizerOptions::Decay::NotBiasesAndNorms;
  return o;
}

void train_steps(Optimizer& opt, Weights& w, int64_t from, int64_t to) {
  for (int64_t s = from; s < to; ++s) {
    set_gradients(w, s);
    opt.set_lr(options_for(opt.kind()).lr * (1.0 - 0.1 * static_cast<double>(s)));  // a schedule
    opt.step();
  }
}

void expect_same_bits(const nn::StateDict& a, const nn::StateDict& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << what << " " << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << what << " " << name;
    EXPECT_EQ(std::memcmp(t.raw_data(), u.raw_data(), t.nbytes()), 0) << what << " " << name;
  }
}

class OptimizerResume : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerResume, CheckpointedRunEndsAtTheSameBits) {
  const std::string kind = GetParam();
  constexpr int64_t kSteps = 7, kCheckpointAt = 2;
  Weights straight = initial_weights();
  auto straight_opt = make_optimizer(kind, straight.named(), options_for(kind));
  train_steps(*straight_opt, straight, 0, kSteps);

  TempDir dir(kind);
  {
    Weights first = initial_weights();
    auto opt = make_optimizer(kind, first.named(), options_for(kind));
    train_steps(*opt, first, 0, kCheckpointAt);
    ASSERT_FALSE(opt->state_dict().slots.begin()->second.count("b.weight"));  // no state yet
    write_checkpoint(dir.str(), first.tensors, *opt, {{"global_step", kCheckpointAt}},
                     {{"model_type", "toy"}}, "{}");
  }
  const Checkpoint c = read_checkpoint(dir.str());
  EXPECT_EQ(c.optimizer.kind, kind);
  EXPECT_EQ(c.state.at("global_step"), kCheckpointAt);
  Weights resumed{c.weights};
  auto opt = make_optimizer(kind, resumed.named(), options_for(kind));
  opt->load_state_dict(c.optimizer);
  EXPECT_EQ(opt->steps(), kCheckpointAt);
  train_steps(*opt, resumed, kCheckpointAt, kSteps);

  expect_same_bits(resumed.tensors, straight.tensors, kind + " weights");
  const OptimizerState a = opt->state_dict(), b = straight_opt->state_dict();
  ASSERT_EQ(a.slots.size(), b.slots.size());
  for (const auto& [slot, by_name] : a.slots) expect_same_bits(by_name, b.slots.at(slot), slot);
  EXPECT_EQ(a.scalars, b.scalars);
}

INSTANTIATE_TEST_SUITE_P(Kinds, OptimizerResume, ::testing::Values("adamw", "sgd"));

// Checkpoints written by `kind` after two steps over `names`, read back.
Checkpoint checkpoint_of(const std::string& kind, const TempDir& dir,
                         const std::vector<std::string>& names = {"a.bias", "a.weight"}) {
  Weights w = initial_weights(names);
  auto opt = make_optimizer(kind, w.named(), options_for(kind));
  train_steps(*opt, w, 0, 2);
  write_checkpoint(dir.str(), w.tensors, *opt, nlohmann::json::object(), nlohmann::json::object(),
                   "");
  return read_checkpoint(dir.str());
}

std::string load_error(Optimizer& opt, const OptimizerState& s) {
  try {
    opt.load_state_dict(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(OptimizerCheckpoint, AnotherKindIsAnErrorNamingBoth) {
  TempDir dir("kind");
  const Checkpoint c = checkpoint_of("sgd", dir);
  Weights w = initial_weights({"a.bias", "a.weight"});
  auto adamw = make_optimizer("adamw", w.named(), options_for("adamw"));
  const std::string what = load_error(*adamw, c.optimizer);
  EXPECT_NE(what.find("'sgd'"), std::string::npos) << what;
  EXPECT_NE(what.find("'adamw'"), std::string::npos) << what;
  EXPECT_NE(what.find(checkpoint_path(dir.str())), std::string::npos) << what;
  EXPECT_EQ(adamw->steps(), 0);
}

TEST(OptimizerCheckpoint, AParameterTheOptimizerDoesNotHaveIsAnError) {
  TempDir dir("unknown");
  const Checkpoint c = checkpoint_of("adamw", dir, {"a.bias", "a.weight", "extra.weight"});
  Weights w = initial_weights({"a.bias", "a.weight"});
  auto opt = make_optimizer("adamw", w.named(), options_for("adamw"));
  const std::string what = load_error(*opt, c.optimizer);
  EXPECT_NE(what.find("extra.weight"), std::string::npos) << what;
  EXPECT_EQ(opt->steps(), 0);  // nothing was taken
  EXPECT_TRUE(opt->state_dict().slots.at("exp_avg").empty());
}

// Documented behaviour: a parameter the state does not mention starts fresh, as one that has never
// had a gradient (torch keeps no state for those either).
TEST(OptimizerCheckpoint, AParameterMissingFromTheStateStartsFresh) {
  TempDir dir("missing");
  const Checkpoint c = checkpoint_of("adamw", dir, {"a.bias", "a.weight"});
  Weights w = initial_weights({"a.bias", "a.weight", "new.weight"});
  auto opt = make_optimizer("adamw", w.named(), options_for("adamw"));
  opt->load_state_dict(c.optimizer);
  EXPECT_EQ(opt->steps(), 2);
  const OptimizerState s = opt->state_dict();
  EXPECT_TRUE(s.slots.at("exp_avg").count("a.weight"));
  EXPECT_FALSE(s.slots.at("exp_avg").count("new.weight"));
}

TEST(OptimizerCheckpoint, ShapeMismatchAndPartialStateAreErrors) {
  TempDir dir("shape");
  const Checkpoint c = checkpoint_of("adamw", dir);
  Weights w = initial_weights({"a.bias", "a.weight"});
  auto opt = make_optimizer("adamw", w.named(), options_for("adamw"));
  OptimizerState wrong_shape = c.optimizer;
  wrong_shape.slots["exp_avg"]["a.bias"] = Tensor::zeros({7});
  EXPECT_NE(load_error(*opt, wrong_shape).find("a.bias"), std::string::npos);
  OptimizerState partial = c.optimizer;
  partial.slots["exp_avg_sq"].erase("a.weight");
  EXPECT_NE(load_error(*opt, partial).find("incomplete for a.weight"), std::string::npos);
  OptimizerState unknown_slot = c.optimizer;
  unknown_slot.slots["momentum_buffer"]["a.bias"] = Tensor::zeros({6});
  EXPECT_NE(load_error(*opt, unknown_slot).find("momentum_buffer"), std::string::npos);
  EXPECT_EQ(opt->steps(), 0);
}

TEST(OptimizerCheckpoint, LoadedStateIsACopy) {
  TempDir dir("copy");
  const Checkpoint c = checkpoint_of("sgd", dir);
  const std::vector<double> before =
      c.optimizer.slots.at("momentum_buffer").at("a.weight").to_vector();
  Weights w{c.weights};
  auto opt = make_optimizer("sgd", w.named(), options_for("sgd"));
  opt->load_state_dict(c.optimizer);
  train_steps(*opt, w, 2, 4);
  EXPECT_EQ(c.optimizer.slots.at("momentum_buffer").at("a.weight").to_vector(), before);
}

TEST(OptimizerCheckpoint, ReadsTheEarlierAdamLayout) {
  TempDir dir("legacy");
  fs::create_directories(dir.str() + "/checkpoint");
  Generator g(9);
  const Tensor weight = Tensor::randn({6, 4}, g), m = Tensor::randn({6, 4}, g),
               v = mul(Tensor::rand({6, 4}, g), 0.01);
  nn::save_safetensors(checkpoint_path(dir.str()),
                       {{"model.a.weight", weight}, {"adam_m.a.weight", m}, {"adam_v.a.weight", v}},
                       {{"kiln.train_state", "{}"},
                        {"kiln.optimizer_step", "3"},
                        {"kiln.config", "{}"},
                        {"kiln.tokenizer", ""}});
  const Checkpoint c = read_checkpoint(dir.str());
  EXPECT_EQ(c.optimizer.kind, "adamw");
  Weights w{c.weights};
  AdamW opt(w.named(), AdamWOptions{});
  opt.load_state_dict(c.optimizer);
  EXPECT_EQ(opt.steps(), 3);
  const OptimizerState s = opt.state_dict();
  EXPECT_EQ(s.slots.at("exp_avg").at("a.weight").to_vector(), m.to_vector());
  EXPECT_EQ(s.slots.at("exp_avg_sq").at("a.weight").to_vector(), v.to_vector());
}

TEST(OptimizerFactory, UnknownKindListsTheKnownOnes) {
  Weights w = initial_weights();
  try {
    make_optimizer("adam", w.named(), {});
    FAIL() << "an unknown kind was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'adam'"), std::string::npos) << what;
    EXPECT_NE(what.find("adamw, sgd"), std::string::npos) << what;
  }
  EXPECT_EQ(make_optimizer("sgd", w.named(), {})->kind(), "sgd");
  EXPECT_EQ(make_optimizer("adamw", w.named(), {})->kind(), "adamw");
}

// The factory's AdamW is the AdamW of the same options (same bits after a step).
TEST(OptimizerFactory, BuildsTheSameAdamW) {
  Weights a = initial_weights(), b = initial_weights();
  OptimizerOptions o = options_for("adamw");
  auto made = make_optimizer("adamw", a.named(), o);
  AdamW direct(b.named(), AdamWOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay},
               default_decay_filter);
  train_steps(*made, a, 0, 4);
  train_steps(direct, b, 0, 4);
  expect_same_bits(a.tensors, b.tensors, "weights");
}

TEST(Optimizer, RefusesATensorListedTwice) {
  Tensor t = Tensor::zeros({3});
  Tensor alias = t;  // another handle to the same tensor, as a tied weight's second name
  EXPECT_THROW(AdamW({{"embed.weight", &t}, {"lm_head.weight", &alias}}, AdamWOptions{}), Error);
}

}  // namespace
}  // namespace kiln::train
