// Adding a family and a task is additive: the toy family and task of toy_plugins.cpp, registered
// in this test binary only, are found through the registries and trained by the same Trainer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nn/family.h"
#include "tests/cli/cli_util.h"
#include "tests/plugins/toy_plugins.h"
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
}

}  // namespace
}  // namespace kiln
