// kiln train --task summarization end to end on transformers' bart-denoise: a run directory whose
// per-epoch evaluation logs the loss and ROUGE of generated summaries, best.kiln that keeps the
// checkpoint's generation_config and works with kiln summarize and kiln eval, a bit-exact
// --resume (dropout on), document groups split by --max-docs-per-group, and clear errors for
// flags of other tasks and bad rows.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"

namespace kiln {
namespace {

using testing::run_kiln;
using testing::TempDir;
const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

class SummarizationTrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRefs + "bart-denoise")) GTEST_SKIP() << "fixtures not present";
    const auto ref = testing::read_json(kRefs + "bart-denoise/reference.json");
    model_ = tmp_ / "bd.kiln";
    ASSERT_EQ(run_kiln("convert " + kRefs + "bart-denoise -o " + model_).exit_code, 0);
    // Masked sentences -> the original ones (the fixture's own task), as text and as a group.
    std::ofstream train(tmp_ / "train.jsonl"), eval(tmp_ / "eval.jsonl");
    for (size_t i = 0; i < ref["reference_sources"].size(); ++i) {
      const nlohmann::json row = {{"id", i},
                                  {"text", ref["reference_sources"][i]},
                                  {"summary", ref["reference_targets"][i]}};
      train << row.dump() << "\n";
      eval << row.dump() << "\n";
    }
    train_ = tmp_ / "train.jsonl";
    eval_ = tmp_ / "eval.jsonl";
  }
  std::string args(const std::string& run) const {
    return "train --task summarization -m " + model_ + " --train " + train_ + " --eval " + eval_ +
           " -o " + run +
           " --epochs 2 --per-device-batch-size 2 --learning-rate 1e-3 --generation-max-length 32";
  }
  TempDir tmp_;
  std::string model_, train_, eval_;
};

TEST_F(SummarizationTrainCli, RunLogsRougeAndBestModelSummarizes) {
  const std::string run = tmp_ / "run";
  const auto r = run_kiln(args(run) + " --generation-num-beams 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int evals = 0;
  for (const auto& j : read_jsonl(run + "/metrics.jsonl")) {
    if (!j.contains("eval")) continue;
    ++evals;
    for (const char* key : {"loss", "rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len"})
      EXPECT_TRUE(j["eval"].contains(key)) << key;
    EXPECT_GT(j["eval"]["rouge1"].get<double>(), 50.0);  // the fixture model nearly copies
    EXPECT_LE(j["eval"]["rouge1"].get<double>(), 100.0);
  }
  EXPECT_EQ(evals, 2);
  EXPECT_TRUE(std::filesystem::exists(run + "/plot.svg"));
  const auto manifest = testing::read_json(run + "/manifest.json");
  EXPECT_EQ(manifest["resolved"]["metric"], "rougeLsum");
  EXPECT_EQ(manifest["generation_config"]["forced_bos_token_id"], 0);

  // best.kiln keeps generation_config.json and summarizes.
  const nn::ModelFile best = nn::read_model_file(run + "/best.kiln");
  ASSERT_TRUE(best.extra_metadata.count(nn::kGenerationConfigKey));
  EXPECT_EQ(nlohmann::json::parse(best.extra_metadata.at(nn::kGenerationConfigKey)),
            testing::read_json(kRefs + "bart-denoise/generation_config.json"));
  const auto s = run_kiln("summarize -m " + run + "/best.kiln -i " + eval_, false);
  ASSERT_EQ(s.exit_code, 0);
  EXPECT_NE(s.output.find("\"summary\""), std::string::npos);
  const auto e = run_kiln("eval -m " + run + "/best.kiln --task summarization -i " + eval_ +
                              " --generation-max-length 32",
                          false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(nlohmann::json::parse(e.output).contains("rougeLsum"));
}

TEST_F(SummarizationTrainCli, ResumeContinuesBitExactly) {
  // BART's dropout is 0.1 in this config: the generator state must survive the stop.
  const auto a = run_kiln(args(tmp_ / "a"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(run_kiln(args(tmp_ / "b") + " --stop-after-steps 3").exit_code, 0);
  const auto resumed = run_kiln("train --resume " + (tmp_ / "b"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  std::map<std::string, std::string> meta_a, meta_b;
  const auto wa = nn::load_safetensors(tmp_ / "a/checkpoint/checkpoint.safetensors", &meta_a);
  const auto wb = nn::load_safetensors(tmp_ / "b/checkpoint/checkpoint.safetensors", &meta_b);
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa)
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), wb.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs after resume";
  EXPECT_EQ(meta_a["kiln.train_state"], meta_b["kiln.train_state"]);
}

TEST_F(SummarizationTrainCli, DocumentGroupsSplitAndBadInputFails) {
  // A group of 5 documents split into examples of at most 2 documents: 3 examples per summary.
  const std::string groups = tmp_ / "groups.jsonl";
  std::ofstream(groups) << nlohmann::json({{"reviews",
                                            {"Good food.", "Slow service.", "Nice staff.",
                                             "Too loud.", "Fair prices."}},
                                           {"summary", {"Good food, slow service.", "Mixed."}}})
                               .dump()
                        << "\n";
  const auto r =
      run_kiln("train --task summarization -m " + model_ + " --train " + groups + " -o " +
               (tmp_ / "g") + " --epochs 1 --max-docs-per-group 2 --per-device-batch-size 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 3 parts x 2 summaries = 6 examples of one update each (unsplit: 2).
  EXPECT_EQ(testing::read_json(tmp_ / "g/manifest.json")["resolved"]["total_updates"], 6);

  // Flags of generating tasks are refused elsewhere; bad rows name file:line and the field.
  auto bad = run_kiln("train --task sequence-classification -m " + model_ + " --train " + train_ +
                      " -o " + (tmp_ / "x") + " --generation-num-beams 4");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("applies to tasks that generate"), std::string::npos) << bad.output;
  const std::string broken = tmp_ / "broken.jsonl";
  std::ofstream(broken) << "{\"text\": \"a\", \"summary\": \"b\"}\n{\"text\": \"a\"}\n"
                        << "{\"text\": \"a\", \"summary\": []}\n";
  bad = run_kiln("train --task summarization -m " + model_ + " --train " + broken + " -o " +
                 (tmp_ / "y"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("broken.jsonl:2"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("summary"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "y/manifest.json"));
}

// A bare BartModel (no LM head) fine-tunes for summarization as transformers' from_pretrained
// loads it into BartForConditionalGeneration: the weights under "model.", the LM head tied to the
// shared embedding, final_logits_bias zero. bart-denoise's own bias is zero, so the bare and the
// full model evaluate to the same loss before training (learning rate 0).
TEST_F(SummarizationTrainCli, ABareBartModelGetsTheTiedLmHead) {
  const std::string dir = tmp_ / "bare";
  std::filesystem::copy(kRefs + "bart-denoise", dir);
  auto config = testing::read_json(dir + "/config.json");
  config["architectures"] = {"BartModel"};
  std::ofstream(dir + "/config.json") << config.dump();
  const std::string bare = tmp_ / "bare.kiln";
  const auto c = run_kiln("convert " + dir + " -o " + bare);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  auto eval_loss = [&](const std::string& model, const std::string& run) {
    const auto r =
        run_kiln("train --task summarization -m " + model + " --train " + train_ + " --eval " +
                 eval_ + " -o " + run + " --epochs 1 --learning-rate 0 --generation-max-length 8");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const auto& j : read_jsonl(run + "/metrics.jsonl"))
      if (j.contains("eval")) return j["eval"]["loss"].get<double>();
    return -1.0;
  };
  const double from_bare = eval_loss(bare, tmp_ / "run-bare");
  EXPECT_GT(from_bare, 0.0);
  EXPECT_DOUBLE_EQ(from_bare, eval_loss(model_, tmp_ / "run-full"));
  const auto manifest = testing::read_json(tmp_ / "run-bare/manifest.json");
  EXPECT_TRUE(manifest["model_init"]["newly_initialized"].empty()) << manifest["model_init"];
}

}  // namespace
}  // namespace kiln
