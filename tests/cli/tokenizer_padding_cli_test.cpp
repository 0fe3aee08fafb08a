// A tokenizer.json may carry its own padding and truncation (sentence-transformers ship
// "padding": {"Fixed": 128}). kiln builds and pads its own sequences, as transformers' tokenizer
// calls do, so tag and train must give exactly what they give without those settings (before the
// fix, every word of tagging data was padded to the fixed length and a model saw two words).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "nn/model_file.h"
#include "nn/state_dict_io.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::run_kiln;
using testing::TempDir;
const std::string kFixture = std::string(KILN_SHARED_DIR) + "/refs/models/bert-tokcls";
const std::string kInspec = std::string(KILN_SHARED_DIR) + "/data/inspec/inspec_train.jsonl";

TEST(TokenizerPadding, TagAndTrainIgnoreATokenizerJsonsOwnPaddingAndTruncation) {
  if (!fs::exists(kFixture) || !fs::exists(kInspec)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string plain = tmp / "plain.kiln", padded = tmp / "padded.kiln";
  ASSERT_EQ(run_kiln("convert " + kFixture + " -o " + plain).exit_code, 0);
  // The same checkpoint with a tokenizer.json that pads and truncates everything to 16 tokens.
  const std::string dir = tmp / "ckpt";
  fs::copy(kFixture, dir);
  nlohmann::json tok = nlohmann::json::parse(nn::read_model_file(plain).tokenizer_json);
  tok["padding"] = {{"strategy", {{"Fixed", 16}}},
                    {"direction", "Right"},
                    {"pad_to_multiple_of", nullptr},
                    {"pad_id", 0},
                    {"pad_type_id", 0},
                    {"pad_token", "[PAD]"}};
  tok["truncation"] = {
      {"direction", "Right"}, {"max_length", 16}, {"strategy", "LongestFirst"}, {"stride", 0}};
  std::ofstream(dir + "/tokenizer.json") << tok.dump();
  ASSERT_EQ(run_kiln("convert " + dir + " -o " + padded).exit_code, 0);
  ASSERT_NE(nn::read_model_file(padded).tokenizer_json.find("Fixed"), std::string::npos);

  // 6 abstracts: tagged text and words, and 1 epoch of training from each file.
  std::ifstream in(kInspec);
  std::ofstream data(tmp / "train.jsonl"), text(tmp / "text.jsonl");
  std::string line;
  for (int i = 0; i < 6 && std::getline(in, line); ++i) {
    data << line << "\n";
    const auto row = nlohmann::json::parse(line);
    text << nlohmann::json({{"text", row["title"].get<std::string>() + ". " +
                                         row["abstract"].get<std::string>()}})
                .dump()
         << "\n";
  }
  data.close();
  text.close();
  const auto a = run_kiln("tag -m " + plain + " -i " + (tmp / "text.jsonl"), false);
  const auto b = run_kiln("tag -m " + padded + " -i " + (tmp / "text.jsonl"), false);
  ASSERT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.output, b.output);
  for (const std::string& m : {plain, padded})
    ASSERT_EQ(run_kiln("train --task token-classification -m " + m + " --train " +
                       (tmp / "train.jsonl") + " -o " + m + ".run --epochs 1 --max-length 256")
                  .exit_code,
              0);
  const auto wa = nn::load_safetensors(plain + ".run/checkpoint/checkpoint.safetensors");
  const auto wb = nn::load_safetensors(padded + ".run/checkpoint/checkpoint.safetensors");
  for (const auto& [name, t] : wa)
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), wb.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name;
}

}  // namespace
}  // namespace kiln
