// Ten AdamW steps of BART summarization training against torch (bart-denoise's adamw_10_steps*
// fixtures: lr 1e-3, weight decay 0.01 on every parameter, clipping at 1.0, eval mode, the same
// batch each step), with and without label smoothing 0.1. The batch is built by the summarization
// task itself from the fixture's source ids and target texts, so the test also proves the task's
// teacher forcing (labels = <s> target </s>, -100 padding, decoder_input_ids shifted right from
// decoder_start_token_id) and its summed loss over the target weight.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/bart.h"
#include "nn/family.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"
#include "train/optimizer.h"
#include "train/task.h"

namespace kiln::train {
namespace {

using testing::read_json;
using testing::row_of;

const std::string kDir = std::string(KILN_SHARED_DIR) + "/refs/models/bart-denoise";

struct Trajectory {
  std::vector<double> losses, norms;  // before each update
  double final_loss = 0;
  std::map<std::string, Tensor> weights;  // after the 10 updates
};

// Ten updates on the same batch. f32: kiln's AdamW and clip_grad_norm. f64: the same update
// written out as torch.optim.AdamW + clip_grad_norm_ compute it, the arbiter for rounding.
Trajectory train_ten_steps(const nn::ModelFamily& family, const nlohmann::json& config,
                           const Task& task, const Batch& batch, const LossOptions& options,
                           double weight, DType dtype) {
  auto model = family.build(config, kDir);
  model->load_state_dict(nn::load_safetensors(kDir + "/model.safetensors"), true, kDir);
  for (auto& [name, p] : model->named_parameters()) *p = p->detach().clone().to(dtype);
  for (auto& [name, b] : model->named_buffers()) *b = b->detach().clone().to(dtype);
  model->eval();
  model->set_requires_grad(true);
  const auto params = model->named_parameters();
  std::unique_ptr<AdamW> opt;
  if (dtype == DType::F32)
    opt = std::make_unique<AdamW>(params, AdamWOptions{1e-3, 0.9, 0.999, 1e-8, 0.01});
  std::map<std::string, std::pair<Tensor, Tensor>> moments;
  auto reference_step = [&](int64_t t) {
    NoGradGuard no_grad;
    double total = 0;
    for (const auto& [name, p] : params) total += sum(mul(p->grad(), p->grad())).item();
    const double scale = std::min(1.0, 1.0 / (std::sqrt(total) + 1e-6));
    const double c1 = 1 - std::pow(0.9, t), c2 = 1 - std::pow(0.999, t);
    for (const auto& [name, p] : params) {
      const Tensor g = mul(p->grad(), scale);
      auto& [m, v] = moments[name];
      if (!m.defined()) m = mul(g, 0.0), v = mul(g, 0.0);
      m = add(mul(m, 0.9), mul(g, 0.1));
      v = add(mul(v, 0.999), mul(mul(g, g), 0.001));
      const Tensor denom = add(mul(sqrt(v), 1 / std::sqrt(c2)), 1e-8);
      copy_(*p, sub(mul(*p, 1 - 1e-3 * 0.01), mul(div(m, denom), 1e-3 / c1)));
    }
    return std::sqrt(total);
  };
  auto loss_now = [&] {
    return mul(task.loss(model->forward(batch.inputs), batch, options), 1.0 / weight);
  };
  Trajectory out;
  for (int64_t t = 1; t <= 10; ++t) {
    for (const auto& [name, p] : params) p->zero_grad();
    Tensor loss = loss_now();
    out.losses.push_back(loss.item());
    loss.backward();
    out.norms.push_back(opt ? clip_grad_norm(params, 1.0) : reference_step(t));
    if (opt) opt->step();
  }
  {
    NoGradGuard no_grad;
    out.final_loss = loss_now().item();
  }
  for (const auto& [name, p] : params) out.weights[name] = p->detach();
  return out;
}

class Seq2SeqAdamW : public ::testing::TestWithParam<bool> {};

TEST_P(Seq2SeqAdamW, TenStepsTrackTorch) {
  if (!std::filesystem::exists(kDir + "/adamw_10_steps.json")) GTEST_SKIP() << "no fixture";
  const bool smoothing = GetParam();
  const std::string suffix = smoothing ? "_label_smoothing" : "";
  const nlohmann::json config = read_json(kDir + "/config.json");
  const nlohmann::json ref_json = read_json(kDir + "/reference.json");
  const nlohmann::json expected = read_json(kDir + "/adamw_10_steps" + suffix + ".json");
  const nn::StateDict ref = nn::load_safetensors(kDir + "/reference.safetensors");

  // The fixture batch as JSON lines: the source ids as given, the target as text.
  const std::string data_path =
      (std::filesystem::temp_directory_path() / ("kiln_s2s_adamw" + suffix + ".jsonl")).string();
  {
    std::ofstream out(data_path);
    const Tensor& ids = ref.at("input_ids");
    const std::vector<int64_t> mask = ref.at("attention_mask").to_ints();
    for (int64_t i = 0; i < ids.size(0); ++i) {
      std::vector<int64_t> real;
      const std::vector<int64_t> row = row_of(ids, i);
      for (size_t j = 0; j < row.size(); ++j)
        if (mask[i * ids.size(1) + j]) real.push_back(row[j]);
      out << nlohmann::json({{"input_ids", real}, {"summary", ref_json["reference_targets"][i]}})
                 .dump()
          << "\n";
    }
  }
  const tok::Tokenizer tokenizer = tok::Tokenizer::from_path(kDir);
  const nn::ModelFamily& family = nn::family_for_config(config, kDir);
  const Task& task = task_by_name("summarization");
  TaskSetup setup;
  setup.tokenizer = &tokenizer;
  setup.fields = task.default_fields();
  setup.spec = family.parse_config(config, kDir);
  setup.max_length = setup.spec.max_tokens;
  setup.max_target_length = 64;
  auto data = task.read(data_path, setup);
  task.encode(*data, setup);
  std::filesystem::remove(data_path);
  std::vector<size_t> all(data->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const Batch batch = task.collate(*data, all, setup);
  EXPECT_EQ(batch.inputs.at("input_ids").to_ints(), ref.at("input_ids").to_ints());
  EXPECT_EQ(batch.inputs.at("attention_mask").to_ints(), ref.at("attention_mask").to_ints());
  EXPECT_EQ(batch.inputs.at("decoder_input_ids").to_ints(), ref.at("decoder_input_ids").to_ints());
  EXPECT_EQ(batch.targets.to_ints(), ref.at("labels").to_ints());

  LossOptions loss_options;
  loss_options.label_smoothing = smoothing ? 0.1 : 0.0;
  const double weight = task.target_weight(*data, all, loss_options);
  const Trajectory f32 =
      train_ten_steps(family, config, task, batch, loss_options, weight, DType::F32);
  const Trajectory f64 =
      train_ten_steps(family, config, task, batch, loss_options, weight, DType::F64);

  auto rel = [](double got, double want) { return std::abs(got - want) / std::abs(want); };
  ASSERT_EQ(f32.losses.size(), expected["steps"].size());
  for (size_t i = 0; i < f32.losses.size(); ++i) {
    const auto& s = expected["steps"][i];
    const double want = s["loss_before_update"], want_norm = s["grad_norm_before_clip"];
    std::cout << "step " << i + 1 << ": loss " << f32.losses[i] << " (f64 " << f64.losses[i]
              << ", torch " << want << "), grad norm " << f32.norms[i] << " (f64 " << f64.norms[i]
              << ", torch " << want_norm << ")\n";
    // kiln's f32 run follows exact arithmetic closely...
    EXPECT_LE(rel(f32.losses[i], f64.losses[i]), 1e-5) << "step " << i + 1;
    EXPECT_LE(rel(f32.norms[i], f64.norms[i]), 1e-5) << "step " << i + 1;
    // ...and torch's within what torch's own f32 rounding allows (see the header).
    EXPECT_LE(rel(f32.losses[i], want), i == 0 ? 1e-5 : 1e-3) << "step " << i + 1;
    EXPECT_LE(rel(f32.norms[i], want_norm), i == 0 ? 1e-4 : 1e-3) << "step " << i + 1;
  }
  const double final_want = expected["loss_after_10_steps"];
  EXPECT_LE(rel(f32.final_loss, f64.final_loss), 1e-5);
  EXPECT_LE(rel(f32.final_loss, final_want), 1e-3);
  std::cout << "label smoothing " << loss_options.label_smoothing << ": loss after 10 steps "
            << f32.final_loss << " (f64 " << f64.final_loss << ", torch " << final_want << ")\n";

  const nn::StateDict weights =
      nn::load_safetensors(kDir + "/adamw_10_steps" + suffix + "_weights.safetensors");
  auto rel_err = [](const std::vector<double>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      num += (got[i] - want[i]) * (got[i] - want[i]);
      den += want[i] * want[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
  };
  size_t compared = 0;
  double worst_exact = 0, worst_torch = 0;
  for (const auto& [name, got] : f32.weights) {
    // A key projection's bias has an exactly-zero gradient in exact arithmetic (softmax is
    // shift-invariant); every side feeds rounding noise to AdamW, which makes steps of +-lr.
    if (name.ends_with("k_proj.bias")) continue;
    std::vector<double> want;
    std::vector<double> mine = got.to_vector(), exact = f64.weights.at(name).to_vector();
    if (name == "model.shared.weight") {
      // Stored as a subset of rows (every token of the batch and a sample of others).
      const std::vector<int64_t> rows = weights.at("model.shared.weight.row_ids").to_ints();
      const Tensor index = Tensor::from_ints(rows, {static_cast<int64_t>(rows.size())});
      mine = index_select(got, 0, index).to_vector();
      exact = index_select(f64.weights.at(name), 0, index).to_vector();
      want = weights.at("model.shared.weight.rows").to_vector();
    } else {
      ASSERT_TRUE(weights.count(name)) << name;
      want = weights.at(name).to_vector();
    }
    const double e_exact = rel_err(mine, exact), e_torch = rel_err(mine, want);
    EXPECT_LE(e_exact, 1e-4) << name;
    EXPECT_LE(e_torch, 1e-3) << name;
    worst_exact = std::max(worst_exact, e_exact);
    worst_torch = std::max(worst_torch, e_torch);
    ++compared;
  }
  EXPECT_GT(compared, 40u);
  std::cout << compared << " weight tensors: worst relative error vs f64 " << worst_exact
            << ", vs torch " << worst_torch << "\n";
}

INSTANTIATE_TEST_SUITE_P(LabelSmoothing, Seq2SeqAdamW, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "smoothed" : "plain"; });

}  // namespace
}  // namespace kiln::train
