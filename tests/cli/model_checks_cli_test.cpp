// Loading refuses what would be trained on or served wrongly: a flipped bit in a model file's or a
// checkpoint's tensor data (kiln.data_sha256; --no-verify skips the check), and a tokenizer whose
// ids run past the model's embedding (train before training starts, tag/classify at load).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/io/safetensors.h"
#include "nn/family.h"
#include "nn/model_file.h"
#include "tests/cli/cli_util.h"
#include "tokenizer/tokenizer.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";
const std::string kInspec = kShared + "/data/inspec/";

bool have_data() {
  return fs::exists(kTokenizer) && fs::exists(kInspec + "inspec_train.jsonl");
}

std::string tiny_config(const TempDir& dir, int64_t vocab = 28996) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": )" << vocab << R"(, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128})";
  return dir / "config.json";
}

std::string train_file(const TempDir& dir) {
  std::ifstream in(kInspec + "inspec_train.jsonl");
  std::ofstream out(dir / "train.jsonl");
  std::string line;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) out << line << "\n";
  return dir / "train.jsonl";
}

std::string train_args(const TempDir& tmp, const std::string& run) {
  return "train --task token-classification --train " + train_file(tmp) + " --output " + run +
         " --config " + tiny_config(tmp) + " --tokenizer " + kTokenizer +
         " --max-length 32 --threads 1 --per-device-batch-size 4";
}

// Flips one bit in the middle of the file's tensor data.
void flip_data_bit(const std::string& path) {
  const auto f = io::SafetensorsFile::open(path);
  const auto offset =
      static_cast<std::streamoff>(f.header().data_offset + f.header().data_size() / 2);
  std::fstream s(path, std::ios::in | std::ios::out | std::ios::binary);
  s.seekg(offset);
  char c = 0;
  s.get(c);
  s.seekp(offset);
  s.put(static_cast<char>(c ^ 0x01));
}

TEST(ModelChecksCli, AFlippedBitInACheckpointOrAModelIsCaught) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const std::string run = tmp / "run";
  auto first = run_kiln(train_args(tmp, run) + " --epochs 2 --stop-after-epochs 1");
  ASSERT_EQ(first.exit_code, 0) << first.output;

  const std::string ckpt = run + "/checkpoint/checkpoint.safetensors";
  flip_data_bit(ckpt);
  auto bad = run_kiln("train --resume " + run);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find(ckpt + ": the tensor data is corrupt"), std::string::npos)
      << bad.output;
  auto unchecked = run_kiln("train --resume " + run + " --no-verify");
  EXPECT_EQ(unchecked.exit_code, 0) << unchecked.output;

  const std::string model = run + "/best.kiln";
  std::ofstream(tmp / "in.jsonl") << R"({"text": "Deep learning of keyphrases"})"
                                  << "\n";
  ASSERT_EQ(run_kiln("tag -m " + model + " -i " + (tmp / "in.jsonl")).exit_code, 0);
  flip_data_bit(model);
  for (const std::string& cmd :
       {"tag -m " + model + " -i " + (tmp / "in.jsonl"),
        "convert " + model + " -o " + (tmp / "copy.kiln"),
        "train --task token-classification --train " + (tmp / "train.jsonl") + " -o " +
            (tmp / "ft") + " --model " + model + " --epochs 1 --threads 1"}) {
    auto r = run_kiln(cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd << "\n" << r.output;
    EXPECT_NE(r.output.find(model + ": the tensor data is corrupt"), std::string::npos)
        << cmd << "\n"
        << r.output;
    auto skipped = run_kiln(cmd + " --no-verify");
    EXPECT_EQ(skipped.exit_code, 0) << cmd << " --no-verify\n" << skipped.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "ft/FAILED"));
}

TEST(ModelChecksCli, ATokenizerLargerThanTheEmbeddingIsRefused) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  // Training: refused before the run directory is made.
  const std::string run = tmp / "run";
  auto r = run_kiln("train --task token-classification --train " + train_file(tmp) + " -o " + run +
                    " --config " + tiny_config(tmp, 100) + " --tokenizer " + kTokenizer);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(tmp / "config.json" + ": the tokenizer has 28996 tokens but the "
                                                "model's embedding has only vocab_size = 100"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(run));

  // Inference: a model file whose embedding is smaller than the tokenizer it carries.
  const nlohmann::json config = {{"model_type", "bert"},
                                 {"architectures", {"BertForTokenClassification"}},
                                 {"vocab_size", 100},
                                 {"hidden_size", 16},
                                 {"num_hidden_layers", 1},
                                 {"num_attention_heads", 2},
                                 {"intermediate_size", 32},
                                 {"max_position_embeddings", 64},
                                 {"id2label", {{"0", "O"}, {"1", "B-KEY"}, {"2", "I-KEY"}}}};
  const auto& family = nn::family_for_config(config, "test");
  const auto model = family.build(config, "test");
  Generator g(1);
  model->init_weights(g);
  nn::ModelFile mf;
  mf.family = family.name();
  mf.config = config;
  mf.tokenizer_json = tok::Tokenizer::from_path(kTokenizer).to_json_string();
  mf.tensors = model->state_dict();
  const std::string path = tmp / "small.kiln";
  nn::write_model_file(path, mf);
  std::ofstream(tmp / "in.jsonl") << R"({"text": "hello"})"
                                  << "\n";
  auto tag = run_kiln("tag -m " + path + " -i " + (tmp / "in.jsonl"));
  EXPECT_EQ(tag.exit_code, 1) << tag.output;
  EXPECT_NE(tag.output.find(path + ": the tokenizer has 28996 tokens"), std::string::npos)
      << tag.output;
  EXPECT_NE(tag.output.find("config field vocab_size"), std::string::npos) << tag.output;
}

TEST(ModelChecksCli, AnAbsurdConfigIsRefusedByNameBeforeAnythingIsBuilt) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, std::string>>{{"num_hidden_layers", "1e9"},
                                                        {"num_hidden_layers", "0"},
                                                        {"intermediate_size", "1e12"},
                                                        {"hidden_size", "-16"}}) {
    nlohmann::json c = nlohmann::json::parse(std::ifstream(tiny_config(tmp)));
    c[field] = nlohmann::json::parse(value);
    std::ofstream(tmp / "absurd.json") << c.dump();
    auto r = run_kiln("train --task token-classification --train " + train_file(tmp) + " -o " +
                      (tmp / "run") + " --config " + (tmp / "absurd.json") + " --tokenizer " +
                      kTokenizer);
    EXPECT_EQ(r.exit_code, 1) << field << "=" << value << "\n" << r.output;
    EXPECT_NE(r.output.find(tmp / "absurd.json"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("config field '" + field + "'"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "run"));
  }
}

}  // namespace
}  // namespace kiln::testing
