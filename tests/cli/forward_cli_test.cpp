// kiln forward against Hugging Face transformers: every fixture of ../shared/refs/models whose
// config a registered family builds is converted, run on the reference inputs, and its logits and
// every hidden state must match the reference within 1e-4; bad inputs and flags fail clearly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/family.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";
const std::vector<std::string> kInputNames = {"input_ids", "attention_mask", "token_type_ids"};

// Fixtures whose config.json names an architecture of a registered family (the BERT family's
// bare encoders and classifiers; its MLM and pre-training checkpoints have no kiln head).
std::vector<std::string> buildable_fixtures() {
  std::vector<std::string> out;
  if (!fs::exists(kRefs)) return out;
  for (const auto& entry : fs::directory_iterator(kRefs)) {
    const std::string config = entry.path().string() + "/config.json";
    if (!fs::exists(config) || !fs::exists(entry.path() / "reference.safetensors")) continue;
    const nlohmann::json c = read_json(config);
    if (!c.contains("model_type") || !c.contains("architectures")) continue;
    for (const auto& family : nn::model_families()) {
      const auto types = family->model_types(), archs = family->architectures();
      if (std::find(types.begin(), types.end(), c["model_type"]) != types.end() &&
          std::find(archs.begin(), archs.end(), c["architectures"][0]) != archs.end())
        out.push_back(entry.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Converts fixture `name` into tmp/m.kiln and writes its reference inputs to tmp/in.safetensors.
nn::StateDict prepare(const std::string& name, const TempDir& tmp) {
  const std::string dir = kRefs + name;
  auto conv = run_kiln("convert " + dir + " -o " + (tmp / "m.kiln"));
  EXPECT_EQ(conv.exit_code, 0) << conv.output;
  nn::StateDict ref = nn::load_safetensors(dir + "/reference.safetensors");
  nn::StateDict inputs;
  for (const auto& n : kInputNames)
    if (ref.count(n)) inputs[n] = ref.at(n);
  // Encoder-decoder fixtures (BART) give the decoder's teacher-forced input too.
  if (ref.count("decoder_input_ids")) inputs["decoder_input_ids"] = ref.at("decoder_input_ids");
  // LED fixtures mark their global tokens.
  if (ref.count("global_attention_mask"))
    inputs["global_attention_mask"] = ref.at("global_attention_mask");
  nn::save_safetensors(tmp / "in.safetensors", inputs);
  return ref;
}

TEST(ForwardCli, FindsTheBertFamilyFixtures) {
  if (!fs::exists(kRefs + "bert-seqcls")) GTEST_SKIP() << "fixtures not present";
  const auto names = buildable_fixtures();
  for (const char* want :
       {"bert-seqcls", "bert-tokcls", "distilbert-seqcls", "roberta-model", "roberta-seqcls"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(ForwardCli, MatchesTransformersOnEveryBuildableFixture) {
  const auto names = buildable_fixtures();
  if (names.empty()) GTEST_SKIP() << "fixtures not present";
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    TempDir tmp;
    const nn::StateDict ref = prepare(name, tmp);
    auto r = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors") +
                      " -o " + (tmp / "out.safetensors"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const nn::StateDict out = nn::load_safetensors(tmp / "out.safetensors");
    size_t compared = 0;
    for (const auto& [key, want] : ref) {
      // hidden_states.N, or an encoder-decoder's encoder_/decoder_hidden_states.N
      const bool hidden = key.find("hidden_states.") != std::string::npos;
      if (!hidden && key != "logits" && key != "last_hidden_state" && key != "pooler_output" &&
          key != "encoder_last_hidden_state")
        continue;  // inputs, labels, loss, attentions
      ASSERT_TRUE(out.count(key)) << key;
      EXPECT_LE(max_abs_diff(out.at(key), want), 1e-4) << key;
      ++compared;
    }
    EXPECT_GE(compared, 4u);  // at least hidden_states.0-2 and one final output
    // Without --outputs, every hidden state the model has is written, and nothing beyond them.
    for (const auto& [key, t] : out) {
      if (key.rfind("hidden_states.", 0) == 0) EXPECT_TRUE(ref.count(key)) << key;
    }
  }
}

TEST(ForwardCli, SelectsOutputsAndConvertsIntegerInputs) {
  if (!fs::exists(kRefs + "bert-tokcls")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const nn::StateDict ref = prepare("bert-tokcls", tmp);
  // The same inputs as int32: converted to int64, same outputs.
  nn::StateDict narrow;
  for (const auto& n : kInputNames) narrow[n] = ref.at(n).to(DType::I32);
  nn::save_safetensors(tmp / "in32.safetensors", narrow);
  auto r = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in32.safetensors") +
                    " -o " + (tmp / "out.safetensors") + " --outputs logits,hidden_states.1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nn::StateDict out = nn::load_safetensors(tmp / "out.safetensors");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_LE(max_abs_diff(out.at("logits"), ref.at("logits")), 1e-4);
  EXPECT_LE(max_abs_diff(out.at("hidden_states.1"), ref.at("hidden_states.1")), 1e-4);

  auto last = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors") +
                       " -o " + (tmp / "last.safetensors") + " --outputs last_hidden_state");
  ASSERT_EQ(last.exit_code, 0) << last.output;
  const nn::StateDict only = nn::load_safetensors(tmp / "last.safetensors");
  ASSERT_EQ(only.size(), 1u);
  EXPECT_LE(max_abs_diff(only.at("last_hidden_state"), ref.at("hidden_states.2")), 1e-4);
}

TEST(ForwardCli, TrainModeWithoutDropoutEqualsEvalForAnEncoder) {
  if (!fs::exists(kRefs + "bert-seqcls")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  prepare("bert-seqcls", tmp);
  const std::string base = "forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors");
  auto eval = run_kiln(base + " -o " + (tmp / "eval.safetensors"));
  auto train = run_kiln(base + " -o " + (tmp / "train.safetensors") + " --train-mode");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  // nn::Model documents a null dropout generator as "no dropout randomness asked for": a family
  // that insists on a generator in training mode breaks that contract.
  ASSERT_EQ(train.exit_code, 0) << train.output;
  // BERT has no batch statistics, and no dropout generator means no dropout: the same bits.
  const nn::StateDict a = nn::load_safetensors(tmp / "eval.safetensors");
  const nn::StateDict b = nn::load_safetensors(tmp / "train.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, t] : a) EXPECT_EQ(b.at(key).to_vector(), t.to_vector()) << key;
  auto help = run_kiln("forward --help");
  EXPECT_NE(help.output.find("dropout is NOT applied"), std::string::npos) << help.output;
}

TEST(ForwardCli, BadInputsAndFlagsFailClearly) {
  if (!fs::exists(kRefs + "bert-tokcls")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const nn::StateDict ref = prepare("bert-tokcls", tmp);
  const std::string model = "forward -m " + (tmp / "m.kiln") + " -o " + (tmp / "out.safetensors");
  std::ofstream(tmp / "out.safetensors") << "previous";
  auto with_inputs = [&](const nn::StateDict& inputs, const std::string& extra = "") {
    nn::save_safetensors(tmp / "bad.safetensors", inputs);
    return run_kiln(model + " -i " + (tmp / "bad.safetensors") + extra);
  };

  auto unknown_output = run_kiln(model + " -i " + (tmp / "in.safetensors") + " --outputs bogus");
  EXPECT_EQ(unknown_output.exit_code, 1);
  EXPECT_NE(unknown_output.output.find("'bogus'"), std::string::npos) << unknown_output.output;
  EXPECT_NE(unknown_output.output.find("logits"), std::string::npos) << unknown_output.output;
  EXPECT_NE(unknown_output.output.find("hidden_states.2"), std::string::npos)
      << unknown_output.output;

  auto unknown_input = with_inputs(
      {{"input_ids", ref.at("input_ids")}, {"pixel_values", Tensor::zeros({1, 3, 2, 2})}});
  EXPECT_EQ(unknown_input.exit_code, 1);
  EXPECT_NE(unknown_input.output.find("'pixel_values'"), std::string::npos) << unknown_input.output;
  EXPECT_NE(unknown_input.output.find("token_type_ids"), std::string::npos)
      << unknown_input.output;  // the error lists the inputs the model takes

  auto rank = with_inputs({{"input_ids", ref.at("input_ids").select(0, 0)}});
  EXPECT_EQ(rank.exit_code, 1);
  EXPECT_NE(rank.output.find("input_ids must be [batch, length]"), std::string::npos)
      << rank.output;

  auto missing = with_inputs({{"attention_mask", ref.at("attention_mask")}});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("input_ids"), std::string::npos) << missing.output;
  EXPECT_NE(missing.output.find("bad.safetensors"), std::string::npos) << missing.output;

  std::ifstream kept(tmp / "out.safetensors");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "previous");

  auto flag = run_kiln(model + " -i " + (tmp / "in.safetensors") + " --bogus");
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.output.find("--bogus"), std::string::npos) << flag.output;
  auto no_input = run_kiln(model);
  EXPECT_EQ(no_input.exit_code, 2) << no_input.output;
}

}  // namespace
}  // namespace kiln::testing
