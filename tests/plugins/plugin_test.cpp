// Adding a family and a task is additive: the toy family and task of toy_plugins.cpp, registered
// in this test binary only, are found through the registries and trained by the same Trainer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/family.h"
#include "nn/inference_engine.h"
#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/plugins/toy_plugins.h"
#include "tools/forward_file.h"
#include "tools/model_loading.h"
#include "tools/predict_stream.h"
#include "train/task.h"
#include "train/trainer.h"

namespace kiln {
namespace {

TEST(Plugins, ToyFamilyAndTaskAreFoundThroughTheRegistries) {
  const auto& family = nn::family_for_config(toy::toy_config(), "toy config");
  EXPECT_EQ(family.name(), "toy");
  EXPECT_EQ(&nn::family_by_name("toy", "test"), &family);
  EXPECT_EQ(train::task_by_name("toy-contains").name(), "toy-contains");
  // Unknown names list what is registered, kiln's own entries and the toy ones.
  try {
    nn::family_for_config({{"model_type", "nope"}}, "x/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("x/config.json: model_type 'nope' is not supported"), std::string::npos) << m;
    EXPECT_NE(m.find("bert"), std::string::npos) << m;
    EXPECT_NE(m.find("toy-bag"), std::string::npos) << m;
  }
  try {
    train::task_by_name("nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("toy-contains"), std::string::npos) << e.what();
  }
}

TEST(Plugins, TheTrainerTrainsAToyFamilyOnAToyTask) {
  testing::TempDir tmp;
  const std::string train_path = tmp / "train.jsonl", eval_path = tmp / "eval.jsonl";
  std::ofstream(train_path) << toy::toy_rows(256, 1);
  std::ofstream(eval_path) << toy::toy_rows(128, 2);

  const auto config = toy::toy_config();
  const auto& family = nn::family_for_config(config, "toy");
  const auto& task = train::task_by_name("toy-contains");
  train::TaskSetup setup;
  setup.spec = family.parse_config(config, "toy");
  setup.labels = setup.spec.labels;
  auto train_data = task.read(train_path, setup);
  auto eval_data = task.read(eval_path, setup);
  task.encode(*train_data, setup);
  task.encode(*eval_data, setup);
  auto model = family.build(config, "toy");
  Generator init(3);
  model->init_weights(init);
  model->set_requires_grad(true);

  train::TrainOptions opt;
  opt.learning_rate = 0.05;
  opt.batch_size = 16;
  opt.epochs = 8;
  train::Trainer trainer(*model, task, setup, *train_data, eval_data.get(), opt);
  const double before = trainer.evaluate().at("accuracy").get<double>();
  std::vector<double> evals;
  train::TrainHooks hooks;
  hooks.log = [&](const nlohmann::json& r) {
    if (r.contains("eval")) evals.push_back(r["eval"]["accuracy"].get<double>());
  };
  const auto end = trainer.run(trainer.initial_state(), hooks);
  EXPECT_TRUE(end.finished);
  ASSERT_EQ(evals.size(), 8u);
  EXPECT_GT(evals.back(), 0.9) << "before training: " << before;
  EXPECT_GT(evals.back(), before);

  // The trained toy model goes through the model file, the loader, the inference engine with
  // the task's predictor (as kiln classify/tag run) and `kiln forward`, all found by name.
  nn::ModelFile mf;
  mf.family = family.name();
  mf.config = config;
  mf.tensors = model->state_dict();
  const std::string model_path = tmp / "toy.kiln";
  nn::write_model_file(model_path, mf);
  const cli::LoadedModel loaded = cli::load_model(model_path, {"toy-contains", "test", false});
  train::TaskSetup predict_setup;
  auto predictor = cli::make_predictor(loaded, "toy-contains", {}, predict_setup);
  auto reader = data::RecordReader::open(eval_path);
  size_t right = 0, total = 0;
  cli::StreamSink sink;
  sink.write = [&](size_t, const data::Record& r, const nlohmann::ordered_json& out) {
    right += out["label"].get<int64_t>() == r.field("label").get<int64_t>();
    ++total;
  };
  sink.flush = [] {};
  cli::stream_predictions(*reader, *predictor, *loaded.model, {5, 0, {}, {"logits"}}, sink);
  EXPECT_EQ(total, 128u);
  EXPECT_NEAR(static_cast<double>(right) / 128.0, evals.back(), 1e-12);

  // kiln forward's path: named inputs in, named outputs out, equal to the model's own forward.
  const std::vector<int64_t> ids = {3, 1, 4, 1, 5, 2, 6, 0};
  const Tensor input_ids = Tensor::from_ints(ids, {2, 4});
  nn::save_safetensors(tmp / "in.safetensors", {{"input_ids", input_ids}});
  cli::forward_file(model_path, tmp / "in.safetensors", tmp / "out.safetensors",
                    {{"logits"}, false});
  const auto out = nn::load_safetensors(tmp / "out.safetensors");
  ASSERT_EQ(out.size(), 1u);
  model->eval();
  NoGradGuard ng;
  const auto expected = model->forward({{"input_ids", input_ids}}).at("logits").to_floats();
  EXPECT_EQ(out.at("logits").to_floats(), expected);
  // The engine batches mixed lengths and hands back each item's own outputs, in order.
  nn::InferenceEngine engine(*loaded.model, {2, {}, {}, {"logits"}});
  const std::vector<std::vector<int64_t>> seqs = {{3, 1}, {1, 1, 1, 1, 1}, {5}};
  std::vector<nn::NamedTensors> items;
  for (const auto& q : seqs) {  // the mask keeps the engine's padding out of the mean
    const int64_t n = static_cast<int64_t>(q.size());
    items.push_back(
        {{"input_ids", Tensor::from_ints(q, {n})},
         {"attention_mask", Tensor::from_ints(std::vector<int64_t>(q.size(), 1), {n})}});
  }
  const auto results = engine.run(items);
  ASSERT_EQ(results.size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const Tensor one = Tensor::from_ints(seqs[i], {1, static_cast<int64_t>(seqs[i].size())});
    EXPECT_EQ(results[i].at("logits").to_floats(),
              model->forward({{"input_ids", one}}).at("logits").to_floats())
        << "item " << i;
  }
}

}  // namespace
}  // namespace kiln
