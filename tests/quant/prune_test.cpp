// Structured feed-forward pruning (quant/prune.h, `kiln prune`): the pruned model computes exactly
// what the original computes with the pruned neurons' down-projection columns zeroed (so removing
// a neuron removes its output and nothing else), for BERT, DistilBERT and BART (encoder and
// decoder blocks) and LED; keep = 1 changes no bit; the least important neuron (one whose output
// weights are zero) goes first; bad input is refused naming the file, tensor or field; and the CLI
// writes a file that kiln loads and runs.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/family.h"
#include "nn/model_file.h"
#include "quant/prune.h"
#include "tests/cli/cli_util.h"
#include "tests/common/tiny_configs.h"

namespace kiln::testing {
namespace {

nlohmann::json distilbert_config() {
  return {{"model_type", "distilbert"},
          {"architectures", {"DistilBertForTokenClassification"}},
          {"vocab_size", 40},
          {"dim", 16},
          {"n_layers", 2},
          {"n_heads", 2},
          {"hidden_dim", 24},
          {"max_position_embeddings", 32},
          {"id2label", {{"0", "O"}, {"1", "B"}}}};
}

nn::NamedTensors inputs(const nlohmann::json& config) {
  return tiny_text_inputs(config["vocab_size"].get<int64_t>(),
                          config["model_type"] != "bert" && config["model_type"] != "distilbert");
}

// A float model file of `config` with seeded weights and biases that are not zero (the
// importance counts the up projection's bias); the feed-forward weights scaled up tenfold from
// the init's 0.02, so that the blocks' outputs weigh in the logits.
nn::ModelFile model_file(const nlohmann::json& config) {
  const nn::ModelFamily& family = nn::family_for_config(config, "test");
  auto model = family.build(config, "test");
  Generator gen(11);
  model->init_weights(gen);
  nn::ModelFile mf;
  mf.family = family.name();
  mf.config = config;
  for (auto& [name, t] : model->state_dict()) {
    Tensor c = t.clone();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
      c = mul(Tensor::randn(c.shape(), gen), 0.1);
    mf.tensors[name] = c;
  }
  for (const auto& b : family.feed_forward_blocks(config, "test"))
    for (const std::string& name : {b.up_weight, b.down_weight})
      mf.tensors[name] = mul(mf.tensors.at(name), 10.0);
  return mf;
}

std::vector<double> logits(const nn::ModelFile& mf) {
  auto model = nn::family_by_name(mf.family, "test").build(mf.config, "test");
  model->load_state_dict(mf.tensors, true, "test");
  model->eval();
  NoGradGuard ng;
  return model->forward(inputs(mf.config)).at("logits").to_vector();
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

void expect_pruning_removes_exactly_the_pruned_neurons(const nlohmann::json& config) {
  const nn::ModelFile original = model_file(config);
  nn::ModelFile pruned = original;
  const auto report = quant::prune_feed_forward(pruned, 0.5, "test");
  const auto blocks =
      nn::family_by_name(original.family, "test").feed_forward_blocks(original.config, "test");
  ASSERT_EQ(report.size(), blocks.size());
  // The original with each pruned neuron's output column zeroed.
  nn::ModelFile masked = original;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const int64_t f = report[i].before;
    const std::set<int64_t> kept(report[i].kept.begin(), report[i].kept.end());
    EXPECT_EQ(static_cast<int64_t>(kept.size()), (f + 1) / 2) << blocks[i].up_weight;
    EXPECT_EQ(pruned.config[blocks[i].width_field], (f + 1) / 2);
    EXPECT_EQ(pruned.tensors.at(blocks[i].up_weight).size(0), (f + 1) / 2);
    EXPECT_EQ(pruned.tensors.at(blocks[i].down_weight).size(1), (f + 1) / 2);
    Tensor down = original.tensors.at(blocks[i].down_weight).clone();
    float* d = down.data<float>();
    for (int64_t r = 0; r < down.size(0); ++r)
      for (int64_t c = 0; c < f; ++c)
        if (!kept.count(c)) d[r * f + c] = 0.0f;
    masked.tensors[blocks[i].down_weight] = down;
    EXPECT_GT(report[i].importance_kept, 0.5);
    EXPECT_LT(report[i].importance_kept, 1.0);
  }
  nn::check_config_against_tensors(nn::family_by_name(pruned.family, "test"), pruned.config,
                                   pruned.tensors, "test");
  const auto got = logits(pruned), want = logits(masked), before = logits(original);
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, moved = 0;
  for (size_t i = 0; i < got.size(); ++i)
    diff = std::max(diff, std::abs(got[i] - want[i])),
    moved = std::max(moved, std::abs(got[i] - before[i]));
  EXPECT_LT(diff, 1e-5 * max_abs(want) + 1e-6);
  EXPECT_GT(moved, 1e-3 * max_abs(before));  // not vacuous: pruning changed the model
  EXPECT_TRUE(pruned.extra_metadata.count(quant::kPruningKey));
}

TEST(PruneFeedForward, BertRemovesExactlyThePrunedNeurons) {
  expect_pruning_removes_exactly_the_pruned_neurons(tiny_bert_config());
}

TEST(PruneFeedForward, DistilBertRemovesExactlyThePrunedNeurons) {
  expect_pruning_removes_exactly_the_pruned_neurons(distilbert_config());
}

TEST(PruneFeedForward, BartEncoderAndDecoderBlocksRemoveExactlyThePrunedNeurons) {
  const auto blocks =
      nn::family_by_name("bart", "test").feed_forward_blocks(tiny_bart_config(), "test");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].up_weight, "model.encoder.layers.0.fc1.weight");
  EXPECT_EQ(blocks[1].width_field, "decoder_ffn_dim");
  expect_pruning_removes_exactly_the_pruned_neurons(tiny_bart_config());
}

TEST(PruneFeedForward, LedBlocksRemoveExactlyThePrunedNeurons) {
  const auto blocks =
      nn::family_by_name("led", "test").feed_forward_blocks(tiny_led_config(), "test");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].up_weight, "led.decoder.layers.0.fc1.weight");
  expect_pruning_removes_exactly_the_pruned_neurons(tiny_led_config());
}

TEST(PruneFeedForward, KeepingEverythingChangesNoBit) {
  const nn::ModelFile original = model_file(tiny_bert_config());
  nn::ModelFile same = original;
  quant::prune_feed_forward(same, 1.0, "test");
  for (const auto& [name, t] : original.tensors)
    EXPECT_EQ(same.tensors.at(name).to_vector(), t.to_vector()) << name;
  EXPECT_EQ(logits(same), logits(original));
}

TEST(PruneFeedForward, TheLeastImportantNeuronGoesFirst) {
  nn::ModelFile mf = model_file(tiny_bert_config());
  const std::string up = "bert.encoder.layer.0.intermediate.dense.weight",
                    down = "bert.encoder.layer.0.output.dense.weight";
  {
    // Neuron 7 writes nothing back: importance 0. Neuron 12 is scaled up tenfold.
    Tensor d = mf.tensors.at(down).clone();
    Tensor u = mf.tensors.at(up).clone();
    for (int64_t r = 0; r < d.size(0); ++r) d.data<float>()[r * d.size(1) + 7] = 0.0f;
    for (int64_t c = 0; c < u.size(1); ++c) u.data<float>()[12 * u.size(1) + c] *= 10.0f;
    mf.tensors[down] = d, mf.tensors[up] = u;
  }
  const auto scores = quant::magnitude_importance(
      mf.tensors.at(up), mf.tensors.at("bert.encoder.layer.0.intermediate.dense.bias"),
      mf.tensors.at(down));
  EXPECT_EQ(scores[7], 0.0);
  const auto report = quant::prune_feed_forward(mf, 31.0 / 32.0, "test");
  const std::set<int64_t> kept(report[0].kept.begin(), report[0].kept.end());
  EXPECT_EQ(kept.size(), 31u);
  EXPECT_FALSE(kept.count(7));
  // And at a tenth, the tenfold neuron survives.
  nn::ModelFile again = model_file(tiny_bert_config());
  {
    Tensor u = again.tensors.at(up).clone();
    for (int64_t c = 0; c < u.size(1); ++c) u.data<float>()[12 * u.size(1) + c] *= 10.0f;
    again.tensors[up] = u;
  }
  const auto small = quant::prune_feed_forward(again, 0.1, "test");
  EXPECT_EQ(small[0].kept.size(), 3u);
  EXPECT_TRUE(std::count(small[0].kept.begin(), small[0].kept.end(), 12));
}

std::string error_of(nn::ModelFile mf, double keep) {
  try {
    quant::prune_feed_forward(mf, keep, "in.kiln");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PruneFeedForward, RefusesBadInputNamingWhatIsWrong) {
  const nn::ModelFile mf = model_file(tiny_bert_config());
  EXPECT_NE(error_of(mf, 0.0).find("(0, 1]"), std::string::npos);
  EXPECT_NE(error_of(mf, 1.5).find("(0, 1]"), std::string::npos);
  nn::ModelFile missing = mf;
  missing.tensors.erase("bert.encoder.layer.1.output.dense.weight");
  EXPECT_NE(error_of(missing, 0.5).find("'bert.encoder.layer.1.output.dense.weight' is not in"),
            std::string::npos);
  nn::ModelFile field = mf;
  field.config["intermediate_size"] = 33;
  EXPECT_NE(error_of(field, 0.5).find("config field 'intermediate_size' should be 32"),
            std::string::npos);
  nn::ModelFile shape = mf;
  shape.tensors["bert.encoder.layer.0.intermediate.dense.bias"] = Tensor::zeros({31});
  EXPECT_NE(error_of(shape, 0.5).find("disagree"), std::string::npos);
  nn::ModelFile image;
  image.family = "densenet";
  image.config = {{"architecture", "torchvision.models.DenseNet"},
                  {"stem", "small"},
                  {"growth_rate", 8},
                  {"block_config", {1, 1}},
                  {"num_init_features", 16},
                  {"bn_size", 4},
                  {"num_classes", 3}};
  EXPECT_NE(error_of(image, 0.5).find("the densenet family has no feed-forward blocks"),
            std::string::npos);
  // Nothing changed on a refusal: the checks run before any tensor is replaced.
  nn::ModelFile partly = mf;
  partly.tensors.erase("bert.encoder.layer.1.output.dense.weight");
  error_of(partly, 0.5);
  EXPECT_EQ(partly.tensors.at("bert.encoder.layer.0.intermediate.dense.weight").size(0), 32);
}

TEST(PruneCli, WritesAFileKilnRunsAndRefusesBadFlags) {
  TempDir dir;
  nn::write_model_file(dir / "m.kiln", model_file(tiny_bert_config()));
  auto r = run_kiln("prune -m " + dir / "m.kiln" + " -o " + dir / "p.kiln" + " --ffn-keep 0.25");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bert.encoder.layer.1.intermediate.dense.weight"), std::string::npos);
  const nn::ModelFile p = nn::read_model_file(dir / "p.kiln");
  EXPECT_EQ(p.config["intermediate_size"], 8);
  EXPECT_EQ(p.provenance["pruned_from"], dir / "m.kiln");
  r = run_kiln("inspect " + dir / "p.kiln");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("intermediate 8"), std::string::npos) << r.output;
  // Pruned twice: both prunes recorded.
  r = run_kiln("prune -m " + dir / "p.kiln" + " -o " + dir / "q.kiln" + " --ffn-keep 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto history = nlohmann::json::parse(
      nn::read_model_file(dir / "q.kiln").extra_metadata.at(quant::kPruningKey));
  EXPECT_EQ(history.size(), 2u);
  EXPECT_EQ(run_kiln("prune -m " + dir / "m.kiln" + " -o " + dir / "x.kiln").exit_code, 2);
  EXPECT_EQ(
      run_kiln("prune -m " + dir / "m.kiln" + " -o " + dir / "x.kiln" + " --ffn-keep 2").exit_code,
      2);
  r = run_kiln("prune -m " + dir / "missing.kiln" + " -o " + dir / "x.kiln" + " --ffn-keep 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing.kiln"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.kiln"));
}

}  // namespace
}  // namespace kiln::testing
