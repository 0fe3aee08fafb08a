// kiln convert / forward / inspect on the BART fixtures of ../shared/refs/models: the converted
// model (tied aliases and final_logits_bias included) reproduces transformers' logits and hidden
// states from input_ids, attention_mask and decoder_input_ids; inspect describes both stacks; an
// mBART config fails with the reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

class BartCli : public ::testing::TestWithParam<std::string> {};

TEST_P(BartCli, ConvertAndForwardReproduceTransformers) {
  const std::string dir = kRefs + GetParam();
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string model = tmp / "m.kiln";
  auto conv = run_kiln("convert " + dir + " -o " + model);
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  EXPECT_NE(conv.output.find("BartForConditionalGeneration"), std::string::npos) << conv.output;

  // The file holds each tied tensor once and the final_logits_bias buffer.
  const nn::StateDict stored = nn::load_safetensors(model);
  EXPECT_TRUE(stored.count("model.shared.weight"));
  EXPECT_TRUE(stored.count("final_logits_bias"));
  for (const char* alias :
       {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"})
    EXPECT_FALSE(stored.count(alias)) << alias;

  const nn::StateDict ref = nn::load_safetensors(dir + "/reference.safetensors");
  nn::StateDict inputs;
  for (const char* n : {"input_ids", "attention_mask", "decoder_input_ids"}) inputs[n] = ref.at(n);
  nn::save_safetensors(tmp / "in.safetensors", inputs);
  auto r = run_kiln("forward -m " + model + " -i " + (tmp / "in.safetensors") + " -o " +
                    (tmp / "out.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nn::StateDict out = nn::load_safetensors(tmp / "out.safetensors");
  size_t compared = 0;
  for (const auto& [key, want] : ref) {
    if (key != "logits" && key != "encoder_last_hidden_state" &&
        key.find("_hidden_states.") == std::string::npos)
      continue;  // inputs, labels, loss, attentions
    ASSERT_TRUE(out.count(key)) << key;
    const double err = max_abs_diff(out.at(key), want);
    EXPECT_LE(err, 1e-4) << key;
    if (key == "logits")
      std::cout << GetParam() << " kiln forward logits max abs error " << err << "\n";
    ++compared;
  }
  EXPECT_GE(compared, 6u);

  // Selected outputs: hidden states by name are computed on demand.
  auto sel = run_kiln("forward -m " + model + " -i " + (tmp / "in.safetensors") + " -o " +
                      (tmp / "sel.safetensors") + " --outputs logits,encoder_hidden_states.1");
  ASSERT_EQ(sel.exit_code, 0) << sel.output;
  const nn::StateDict picked = nn::load_safetensors(tmp / "sel.safetensors");
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_LE(max_abs_diff(picked.at("encoder_hidden_states.1"), ref.at("encoder_hidden_states.1")),
            1e-4);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BartCli,
                         ::testing::Values("bart-rand", "bart-denoise", "distilbart-asym"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(BartCliInspect, DescribesBothStacks) {
  const std::string dir = kRefs + "distilbart-asym";
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + (tmp / "m.kiln")).exit_code, 0);
  auto r = run_kiln("inspect " + (tmp / "m.kiln"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* want :
       {"family        bart", "BartForConditionalGeneration",
        "encoder       3 layers, 4 heads, ffn 128", "decoder       1 layer, 8 heads, ffn 96",
        "d_model 64", "vocabulary 50265", "max positions 64", "scale_embedding true (x8)",
        "gelu_new", "decoder start 2", "forced bos 0", "forced eos 2"})
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
}

// Without decoder_input_ids the decoder reads shift_tokens_right(input_ids), as transformers'
// BartModel does; the logits then have the encoder input's length.
TEST(BartCliForward, DefaultsTheDecoderInputAndRefusesUnknownInputs) {
  const std::string dir = kRefs + "bart-rand";
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + (tmp / "m.kiln")).exit_code, 0);
  const nn::StateDict ref = nn::load_safetensors(dir + "/reference.safetensors");
  nn::save_safetensors(tmp / "in.safetensors", {{"input_ids", ref.at("input_ids")},
                                                {"attention_mask", ref.at("attention_mask")}});
  auto r = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors") + " -o " +
                    (tmp / "out.safetensors") + " --outputs logits");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nn::load_safetensors(tmp / "out.safetensors").at("logits").shape(),
            (Shape{4, 32, 50265}));

  nn::save_safetensors(tmp / "bad.safetensors",
                       {{"input_ids", ref.at("input_ids")}, {"labels", ref.at("labels")}});
  auto bad = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "bad.safetensors") +
                      " -o " + (tmp / "x.safetensors"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("'labels'"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("decoder_input_ids"), std::string::npos) << bad.output;
}

TEST(BartCliConvert, MbartConfigFailsWithTheReason) {
  const std::string dir = kRefs + "bart-rand";
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  std::ifstream in(dir + "/config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["model_type"] = "mbart";
  config["architectures"] = {"MBartForConditionalGeneration"};
  std::ofstream(tmp / "config.json") << config.dump(2);
  fs::copy_file(dir + "/model.safetensors", tmp / "model.safetensors");
  auto r = run_kiln("convert " + tmp.path() + " -o " + (tmp / "m.kiln"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(tmp / "config.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model_type 'mbart' is not supported"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("SentencePiece"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bart"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "m.kiln"));
}

}  // namespace
}  // namespace kiln::testing
