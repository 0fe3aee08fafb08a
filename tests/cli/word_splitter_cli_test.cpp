// The word splitter travels with the model: `kiln train --word-splitter` records it in the manifest
// and in best.kiln (kiln.word_splitter), `kiln convert` of a kiln file keeps it, and `kiln tag`
// splits "text" input with it (--word-splitter overrides; absent means the tokenizer's split).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "nn/model_file.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using V = std::vector<std::string>;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTagger = kShared + "/refs/models/bert-tokcls";
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";

const std::string kText = "The industry's quasi-weighted model.";
const V kBertWords = {"The", "industry", "'", "s", "quasi", "-", "weighted", "model", "."};
const V kRegexWords = {"The", "industry's", "quasi-weighted", "model", "."};

// The one output line of `kiln <args>` (stderr discarded), parsed; null on failure.
json tag_line(const std::string& args) {
  const RunResult r = run_kiln(args, false);
  if (r.exit_code != 0) return nullptr;
  return json::parse(r.output, nullptr, false);
}

// A copy of a kiln model file with kiln.word_splitter set to `value`.
void with_splitter(const std::string& from, const std::string& to, const std::string& value) {
  nn::ModelFile mf = nn::read_model_file(from);
  mf.extra_metadata[nn::kWordSplitterKey] = value;
  nn::write_model_file(to, mf);
}

std::string recorded_splitter(const std::string& path) {
  const nn::ModelFile mf = nn::read_model_file(path);
  auto it = mf.extra_metadata.find(nn::kWordSplitterKey);
  return it == mf.extra_metadata.end() ? "(absent)" : it->second;
}

TEST(WordSplitterCli, TagSplitsTextWithTheModelFilesSplitter) {
  if (!fs::exists(kTagger)) GTEST_SKIP() << "bert-tokcls fixture not present";
  TempDir tmp;
  const std::string plain = tmp / "plain.kiln", regex = tmp / "regex.kiln";
  ASSERT_EQ(run_kiln("convert " + kTagger + " -o " + plain).exit_code, 0);
  with_splitter(plain, regex, "regex-words");
  std::ofstream(tmp / "text.jsonl") << json{{"text", kText}}.dump() << "\n";
  std::ofstream(tmp / "words.jsonl") << json{{"words", kRegexWords}}.dump() << "\n";
  const std::string text = " -i " + (tmp / "text.jsonl");

  // No recorded splitter: the tokenizer's pre-tokenizer, as before.
  const json a = tag_line("tag --probs -m " + plain + text);
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a["words"], kBertWords);

  // Recorded regex-words: the words Inspec's tokens have, each tagged exactly as the same words
  // given as "words" are (the same model inputs).
  const json b = tag_line("tag --probs -m " + regex + text);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(b["words"], kRegexWords);
  EXPECT_EQ(b["text"], kText);
  const json w = tag_line("tag --probs -m " + regex + " -i " + (tmp / "words.jsonl"));
  ASSERT_FALSE(w.is_null());
  EXPECT_EQ(b["labels"], w["labels"]);
  EXPECT_EQ(b["probs"], w["probs"]);
  for (const auto& s : b["spans"])  // offsets into the original text
    EXPECT_EQ(kText.substr(s["start"], s["end"].get<size_t>() - s["start"].get<size_t>()),
              s["text"].get<std::string>());

  // --word-splitter overrides the file.
  EXPECT_EQ(tag_line("tag -m " + regex + " --word-splitter tokenizer" + text)["words"], kBertWords);
  EXPECT_EQ(tag_line("tag -m " + plain + " --word-splitter whitespace" + text)["words"],
            (V{"The", "industry's", "quasi-weighted", "model."}));
  const RunResult bad = run_kiln("tag -m " + plain + " --word-splitter regex" + text);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("tokenizer, regex-words or whitespace"), std::string::npos)
      << bad.output;

  // kiln convert of a kiln file (here to bf16) keeps the splitter.
  const std::string bf16 = tmp / "regex-bf16.kiln";
  ASSERT_EQ(run_kiln("convert " + regex + " -o " + bf16 + " --dtype bf16").exit_code, 0);
  EXPECT_EQ(recorded_splitter(bf16), "regex-words");
  EXPECT_EQ(tag_line("tag -m " + bf16 + text)["words"], kRegexWords);

  // A value this kiln does not know is an error naming the file and the key.
  const std::string unknown = tmp / "unknown.kiln";
  with_splitter(plain, unknown, "sentencepiece");
  const RunResult u = run_kiln("tag -m " + unknown + text);
  EXPECT_EQ(u.exit_code, 1);
  EXPECT_NE(u.output.find(unknown + ": metadata 'kiln.word_splitter': unknown word splitter"),
            std::string::npos)
      << u.output;
}

std::string tiny_config(const TempDir& dir) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64})";
  return dir / "config.json";
}

TEST(WordSplitterCli, TrainRecordsTheSplitterInTheManifestAndModel) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "bert-base-cased tokenizer not present";
  TempDir tmp;
  // Text with character spans: the splitter also decides the training words.
  {
    std::ofstream data(tmp / "spans.jsonl");
    for (int i = 0; i < 4; ++i)
      data << json{{"text", kText}, {"spans", {{{"start", 15}, {"end", 35}, {"label", "KEY"}}}}}
                  .dump()
           << "\n";
  }
  const std::string args = "train --task token-classification --train " + (tmp / "spans.jsonl") +
                           " --text-field text --label-field spans --config " + tiny_config(tmp) +
                           " --tokenizer " + kTokenizer +
                           " --max-length 32 --epochs 1 --threads 1 --output ";
  const RunResult r = run_kiln(args + (tmp / "regex") + " --word-splitter regex-words");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream mf(tmp / "regex/manifest.json");
  const json manifest = json::parse(mf);
  EXPECT_EQ(manifest["options"]["word-splitter"], "regex-words");
  EXPECT_EQ(manifest["resolved"]["word_splitter"], "regex-words");
  EXPECT_EQ(recorded_splitter(tmp / "regex/best.kiln"), "regex-words");
  std::ofstream(tmp / "text.jsonl") << json{{"text", kText}}.dump() << "\n";
  const json tagged =
      tag_line("tag -m " + (tmp / "regex/best.kiln") + " -i " + (tmp / "text.jsonl"));
  EXPECT_EQ(tagged["words"], kRegexWords);

  // Without the flag: the tokenizer's split, recorded as such.
  const RunResult d = run_kiln(args + (tmp / "default"));
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_EQ(recorded_splitter(tmp / "default/best.kiln"), "tokenizer");

  // An unknown name is a usage error before anything is written.
  const RunResult bad = run_kiln(args + (tmp / "bad") + " --word-splitter regex");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--word-splitter"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
}

}  // namespace
}  // namespace kiln::testing
