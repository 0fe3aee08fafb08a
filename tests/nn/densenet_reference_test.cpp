// DenseNet and the image + metadata fusion model against torchvision 0.14.1 / torch 1.13.1
// (fixtures ../shared/refs/models/densenet-tiny and fusion-tiny, see refs/README.md "DenseNet,
// fusion and image-preprocessing fixtures"): eval and train-mode logits, every intermediate
// activation, the class-weighted loss, every gradient, the BN running statistics after one
// train-mode forward, and 5 SGD-momentum and 5 AdamW steps in train mode (losses, gradient norms,
// final state_dict including running statistics and num_batches_tracked). Measured errors are
// printed. Models are built through the family registry from the reference config.json, as
// `kiln convert` builds them.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "nn/family.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"
#include "train/optimizer.h"
#include "train/sgd.h"

namespace kiln::nn {
namespace {

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

struct Case {
  std::string dir;
  std::map<std::string, std::string> inputs;  // forward input -> reference tensor
};

const Case kDenseNet{"densenet-tiny", {{"pixel_values", "input"}}};
const Case kFusion{"fusion-tiny", {{"pixel_values", "input_image"}, {"metadata", "input_meta"}}};

struct Loaded {
  std::unique_ptr<Model> model;
  StateDict ref;
  NamedTensors inputs;
};

Loaded load(const Case& c) {
  const std::string dir = kRefs + c.dir, origin = dir + "/config.json";
  const nlohmann::json raw = testing::read_json(origin);
  const ModelFamily& family = family_for_config(raw, origin);
  ConvertedWeights w =
      family.import_checkpoint(raw, load_safetensors(dir + "/model.safetensors"), origin);
  Loaded l;
  l.model = family.build(w.config, origin);
  l.model->load_state_dict(w.tensors, /*strict=*/true, dir);
  l.ref = load_safetensors(dir + "/reference.safetensors");
  for (const auto& [name, key] : c.inputs) l.inputs[name] = l.ref.at(key);
  return l;
}

// max |a - b| / max(1, max |b|): absolute for values of order 1, relative for large tensors.
double scaled_max_diff(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  const auto a = got.to_vector(), b = want.to_vector();
  double m = 0, scale = 1;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::fabs(b[i]));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m / scale;
}

// Every tensor of `want` against `got`: integer counters (num_batches_tracked) exactly, floating
// ones within `tol` (scaled_max_diff). Returns the largest floating difference.
double compare_state(const StateDict& got, const StateDict& want, double tol,
                     const std::string& what) {
  double worst = 0;
  for (const auto& [name, w] : want) {
    if (!got.count(name)) {
      ADD_FAILURE() << what << ": no tensor " << name;
      continue;
    }
    if (w.dtype() == DType::I64) {
      EXPECT_EQ(got.at(name).to_ints(), w.to_ints()) << what << " " << name;
      continue;
    }
    const double d = scaled_max_diff(got.at(name), w);
    EXPECT_LT(d, tol) << what << " " << name;
    worst = std::max(worst, d);
  }
  return worst;
}

Tensor weighted_loss(const Loaded& l, const Tensor& logits, bool weighted = true) {
  CrossEntropyOptions o;
  if (weighted) o.class_weights = l.ref.at("class_weights");
  return cross_entropy(logits, l.ref.at("labels"), o);
}

double rel(double got, double want) {
  return std::fabs(got - want) / std::fabs(want);
}

void check_forward(const Case& c, bool train_mode) {
  Loaded l = load(c);
  const std::string mode = train_mode ? "train" : "eval";
  l.model->train(train_mode);
  const NamedTensors out = l.model->forward(l.inputs, {/*hidden_states=*/true});
  double worst_logit = scaled_max_diff(out.at("logits"), l.ref.at("logits_" + mode));
  EXPECT_LT(worst_logit, 1e-4) << c.dir << " logits_" << mode;
  if (out.count("image_logits")) {
    for (const char* k : {"image_logits", "meta_logits"}) {
      const double d = scaled_max_diff(out.at(k), l.ref.at(std::string(k) + "_" + mode));
      EXPECT_LT(d, 1e-4) << c.dir << " " << k << "_" << mode;
      worst_logit = std::max(worst_logit, d);
    }
    EXPECT_LT(scaled_max_diff(out.at("fusion_weights"), l.ref.at("fusion_weights")), 1e-6);
  }
  const StateDict acts = load_safetensors(kRefs + c.dir + "/activations.safetensors");
  double worst_act = 0;
  int n_acts = 0;
  for (const auto& [key, want] : acts) {
    if (key.rfind(mode + ".", 0) != 0) continue;
    const std::string name = key.substr(mode.size() + 1);
    ASSERT_TRUE(out.count(name)) << c.dir << ": no output " << name;
    const double d = scaled_max_diff(out.at(name), want);
    EXPECT_LT(d, 1e-4) << c.dir << " " << key;
    worst_act = std::max(worst_act, d), ++n_acts;
  }
  EXPECT_GT(n_acts, 10);
  const double loss = weighted_loss(l, out.at("logits")).item();
  const double want_loss = l.ref.at("loss_" + mode).item();
  EXPECT_LT(rel(loss, want_loss), 1e-5) << c.dir << " loss_" << mode;
  std::cout << c.dir << " " << mode << ": logits max diff " << worst_logit << ", " << n_acts
            << " activations max diff " << worst_act << ", loss rel diff " << rel(loss, want_loss)
            << "\n";
  if (train_mode && l.ref.count("loss_train_unweighted")) {
    const double u = weighted_loss(l, out.at("logits"), false).item();
    EXPECT_LT(rel(u, l.ref.at("loss_train_unweighted").item()), 1e-5);
  }
}

TEST(DenseNetReference, EvalLogitsActivationsAndLoss) {
  check_forward(kDenseNet, false);
}
TEST(DenseNetReference, TrainModeLogitsActivationsAndLoss) {
  check_forward(kDenseNet, true);
}
TEST(FusionReference, EvalLogitsActivationsAndLoss) {
  check_forward(kFusion, false);
}
TEST(FusionReference, TrainModeLogitsActivationsAndLoss) {
  check_forward(kFusion, true);
}

// One train-mode forward + backward: every gradient, and the running statistics it moved.
void check_gradients_and_running_stats(const Case& c) {
  Loaded l = load(c);
  l.model->train(true);
  l.model->set_requires_grad(true);
  const Tensor loss = weighted_loss(l, l.model->forward(l.inputs).at("logits"));
  loss.backward();
  const StateDict grads = load_safetensors(kRefs + c.dir + "/grads.safetensors");
  const auto params = l.model->named_parameters();
  EXPECT_EQ(params.size(), grads.size()) << c.dir;
  double worst = 0;
  std::string worst_name;
  for (const auto& [name, p] : params) {
    ASSERT_TRUE(grads.count(name)) << c.dir << ": no reference gradient for " << name;
    ASSERT_TRUE(p->grad().defined()) << name;
    const double d = testing::max_diff_over_max(p->grad(), grads.at(name));
    EXPECT_LT(d, 1e-3) << c.dir << " d loss / d " << name;
    if (d > worst) worst = d, worst_name = name;
  }
  const StateDict running =
      load_safetensors(kRefs + c.dir + "/bn_running_after_train_forward.safetensors");
  const double worst_running = compare_state(l.model->state_dict(), running, 1e-5, c.dir);
  std::cout << c.dir << ": " << params.size() << " gradients, worst " << worst << " (" << worst_name
            << "); " << running.size() << " running statistics, worst " << worst_running << "\n";
}

TEST(DenseNetReference, GradientsAndRunningStatistics) {
  check_gradients_and_running_stats(kDenseNet);
}
TEST(FusionReference, GradientsAndRunningStatistics) {
  check_gradients_and_running_stats(kFusion);
}

// 5 optimizer steps in train mode, as the fixture's json describes them.
void check_steps(const Case& c, const std::string& which) {
  Loaded l = load(c);
  l.model->train(true);
  for (auto& [name, p] : l.model->named_parameters()) *p = p->clone();  // writable for the steps
  l.model->set_requires_grad(true);
  std::unique_ptr<train::Optimizer> opt;
  if (which == "sgd") {
    train::SGDOptions o;
    o.lr = 0.01, o.momentum = 0.9, o.weight_decay = 1e-4;
    opt = std::make_unique<train::SGD>(l.model->named_parameters(), o);
  } else {
    train::AdamWOptions o;
    o.lr = 1e-3, o.weight_decay = 0.01;
    opt = std::make_unique<train::AdamW>(l.model->named_parameters(), o);
  }
  const nlohmann::json log = testing::read_json(kRefs + c.dir + "/" + which + "_5_steps.json");
  double worst_loss = 0, worst_norm = 0;
  for (const auto& step : log["steps"]) {
    opt->zero_grad();
    const Tensor loss = weighted_loss(l, l.model->forward(l.inputs).at("logits"));
    loss.backward();
    double sq = 0;
    for (const auto& [name, p] : opt->params())
      for (double g : p->grad().to_vector()) sq += g * g;
    const double dl = rel(loss.item(), step["loss_before_update"].get<double>());
    const double dn = rel(std::sqrt(sq), step["grad_norm"].get<double>());
    EXPECT_LT(dl, 1e-4) << c.dir << " " << which << " step " << step["step"];
    EXPECT_LT(dn, 1e-3) << c.dir << " " << which << " step " << step["step"];
    worst_loss = std::max(worst_loss, dl), worst_norm = std::max(worst_norm, dn);
    opt->step();
  }
  const StateDict want =
      load_safetensors(kRefs + c.dir + "/" + which + "_5_steps_weights.safetensors");
  const StateDict got = l.model->state_dict();
  EXPECT_EQ(got.size(), want.size());
  const double worst_weight = compare_state(got, want, 1e-4, c.dir + " " + which);
  NoGradGuard ng;
  double worst_after = 0;
  for (bool train_mode : {false, true}) {
    l.model->train(train_mode);
    const double loss = weighted_loss(l, l.model->forward(l.inputs).at("logits")).item();
    const double want_loss =
        log[train_mode ? "loss_after_steps_train_mode" : "loss_after_steps_eval_mode"]
            .get<double>();
    // The eval-mode loss after 5 AdamW steps is the one figure here that rounding can move past
    // 1e-4: AdamW turns each step's gradient into ~lr-sized moves whatever its size, and a near
    // tie (a max-pool window, a ReLU at 0) decided by the last bit then changes later steps.
    // Measured on fusion-tiny: summing the 3x3 convolutions' kernel taps first-to-last gave
    // 6.6e-4, last-to-first 6.4e-7, with step-1 gradients within 1e-5 of torch's either way and
    // the final weights within 3e-5. So it gets 1e-3; the weights above keep 1e-4.
    const double tol = which == "adamw" && !train_mode ? 1e-3 : 1e-4;
    EXPECT_LT(rel(loss, want_loss), tol)
        << c.dir << " " << which << " loss after, train " << train_mode;
    worst_after = std::max(worst_after, rel(loss, want_loss));
  }
  std::cout << c.dir << " " << which << " x5: loss rel diff " << worst_loss
            << ", grad norm rel diff " << worst_norm << ", final state max diff " << worst_weight
            << ", loss after (eval, train) rel diff " << worst_after << "\n";
}

TEST(DenseNetReference, FiveSgdMomentumSteps) {
  check_steps(kDenseNet, "sgd");
}
TEST(DenseNetReference, FiveAdamWSteps) {
  check_steps(kDenseNet, "adamw");
}
TEST(FusionReference, FiveSgdMomentumSteps) {
  check_steps(kFusion, "sgd");
}
TEST(FusionReference, FiveAdamWSteps) {
  check_steps(kFusion, "adamw");
}

// Inference with batch norms folded into the convolutions before them (pack_for_inference):
// within 1e-5 of the unfolded eval forward, and still the reference's logits.
TEST(DenseNetReference, FoldedBatchNormInferenceMatches) {
  for (const Case* c : {&kDenseNet, &kFusion}) {
    Loaded l = load(*c);
    l.model->eval();
    NoGradGuard ng;
    const NamedTensors plain = l.model->forward(l.inputs);
    l.model->pack_for_inference();
    const NamedTensors folded = l.model->forward(l.inputs);
    const double d = scaled_max_diff(folded.at("logits"), plain.at("logits"));
    EXPECT_LT(d, 1e-5) << c->dir;
    EXPECT_LT(scaled_max_diff(folded.at("logits"), l.ref.at("logits_eval")), 1e-4) << c->dir;
    std::cout << c->dir << ": folded vs plain eval logits max diff " << d << "\n";
  }
}

}  // namespace
}  // namespace kiln::nn

namespace kiln::nn {
namespace {

// Train-mode forward + backward of the fusion model (DenseNet branch included) on 1, 2 and 3
// threads: the logits, every gradient and every running statistic have the same bits.
std::vector<std::vector<double>> train_step_bits(int threads) {
  set_num_threads(threads);
  Loaded l = load(kFusion);
  l.model->train(true);
  l.model->set_requires_grad(true);
  const Tensor logits = l.model->forward(l.inputs).at("logits");
  weighted_loss(l, logits).backward();
  std::vector<std::vector<double>> out = {logits.to_vector()};
  for (const auto& [name, p] : l.model->named_parameters()) out.push_back(p->grad().to_vector());
  for (const auto& [name, b] : l.model->named_buffers()) out.push_back(b->to_vector());
  return out;
}

TEST(FusionReference, TrainStepIsBitIdenticalAcrossThreadCounts) {
  const int saved = num_threads();
  const auto one = train_step_bits(1);
  EXPECT_EQ(one, train_step_bits(2));
  EXPECT_EQ(one, train_step_bits(3));
  set_num_threads(saved);
}

}  // namespace
}  // namespace kiln::nn
