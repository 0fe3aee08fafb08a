// kiln convert / forward / inspect on ../shared/refs/models/led-tiny: the converted model (tied
// aliases and final_logits_bias included) reproduces transformers' logits and hidden states from
// input_ids, attention_mask, global_attention_mask and decoder_input_ids; inspect describes the
// windows; a checkpoint missing a tensor, or with one of the wrong shape, fails naming it.
#include <gtest/gtest.h>

#include <filesystem>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(KILN_SHARED_DIR) + "/refs/models/led-tiny";

TEST(LedCli, ConvertInspectAndForwardReproduceTransformers) {
  if (!fs::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string model = tmp / "m.kiln";
  auto conv = run_kiln("convert " + kFixture + " -o " + model);
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  EXPECT_NE(conv.output.find("LEDForConditionalGeneration"), std::string::npos) << conv.output;
  const nn::StateDict stored = nn::load_safetensors(model);
  EXPECT_TRUE(stored.count("led.shared.weight"));
  EXPECT_TRUE(stored.count("final_logits_bias"));
  for (const char* alias :
       {"lm_head.weight", "led.encoder.embed_tokens.weight", "led.decoder.embed_tokens.weight"})
    EXPECT_FALSE(stored.count(alias)) << alias;

  auto info = run_kiln("inspect " + model);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const char* want :
       {"family        led", "LEDForConditionalGeneration",
        "encoder       2 layers, 4 heads, ffn 64",
        "attention     sliding window 8, 16 (per layer) + global tokens",
        "max positions 256 encoder / 64 decoder", "vocabulary 50266", "positions without offset",
        "dropout 0.1, attention 0,", "decoder start 2", "forced bos 0", "forced eos 2"})
    EXPECT_NE(info.output.find(want), std::string::npos) << want << "\n" << info.output;

  const nn::StateDict ref = nn::load_safetensors(kFixture + "/reference.safetensors");
  nn::StateDict inputs;
  for (const char* n :
       {"input_ids", "attention_mask", "global_attention_mask", "decoder_input_ids"})
    inputs[n] = ref.at(n);
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
    if (key == "logits") std::cout << "led-tiny kiln forward logits max abs error " << err << "\n";
    ++compared;
  }
  EXPECT_EQ(compared, 8u);  // logits, encoder_last_hidden_state, 3 + 3 hidden states
}

// A copy of the fixture folder whose model.safetensors is `tensors`.
void write_checkpoint(const TempDir& dir, const nn::StateDict& tensors) {
  for (const char* f : {"config.json", "vocab.json", "merges.txt", "tokenizer.json",
                        "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"})
    fs::copy_file(kFixture + "/" + f, dir / f);
  nn::save_safetensors(dir / "model.safetensors", tensors);
}

TEST(LedCliConvert, MissingOrMisshapenTensorIsNamed) {
  if (!fs::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  const nn::StateDict weights = nn::load_safetensors(kFixture + "/model.safetensors");
  const std::string name =
      "led.encoder.layers.1.self_attn.longformer_self_attn.query_global.weight";
  {
    TempDir tmp;
    nn::StateDict missing = weights;
    missing.erase(name);
    write_checkpoint(tmp, missing);
    auto r = run_kiln("convert " + tmp.path() + " -o " + (tmp / "m.kiln"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("has no tensor '" + name + "'"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "m.kiln"));
  }
  {
    TempDir tmp;
    nn::StateDict wrong = weights;
    wrong[name] = Tensor::zeros({32, 16});
    write_checkpoint(tmp, wrong);
    auto r = run_kiln("convert " + tmp.path() + " -o " + (tmp / "m.kiln"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("tensor '" + name +
                            "' has shape [32, 16] but the config (d_model)"
                            " gives [32, 32]"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(tmp / "m.kiln"));
  }
}

}  // namespace
}  // namespace kiln::testing
