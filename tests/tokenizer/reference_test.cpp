// Every line and every field of the Hugging Face reference encodings must match: ids, tokens,
// type ids, special-tokens mask, byte offsets and decoded text, for tokenizer.json and for the
// older vocab-file layouts of the same tokenizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/tokenizer/reference_util.h"

namespace kiln::tok {
namespace {

using testing::all_fields;
using testing::compare_with_reference;
using testing::shared_path;

void expect_all_match(const Tokenizer& tok, const std::string& fixture,
                      const std::vector<std::string>& fields) {
  const auto c = compare_with_reference(tok, shared_path("refs/tokenizers/" + fixture), fields);
  std::cout << "[ reference ] " << fixture << ": " << c.lines << " lines; " << c.summary() << "\n";
  EXPECT_EQ(c.lines, 899u) << "fixture " << fixture << " changed size";
  for (const auto& f : fields)
    EXPECT_GT(c.checked.count(f), 0u) << "field " << f << " never checked";
  for (const auto& f : c.failures) ADD_FAILURE() << f;
  EXPECT_TRUE(c.all_match()) << c.summary();
}

// A scratch folder holding a copy of one vocab file and an optional tokenizer_config.json.
std::string vocab_dir(const std::string& name, const std::string& vocab_src,
                      const std::string& config) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("kiln_tok_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(vocab_src, dir / fs::path(vocab_src).filename());
  if (!config.empty()) std::ofstream(dir / "tokenizer_config.json") << config;
  return dir.string();
}

TEST(tokenizer_reference, BartTokenizerJson) {
  expect_all_match(Tokenizer::from_path(shared_path("tokenizers/bart-large-cnn/tokenizer.json")),
                   "bart.jsonl", all_fields());
}

TEST(tokenizer_reference, BertCasedTokenizerJson) {
  expect_all_match(Tokenizer::from_path(shared_path("tokenizers/bert-base-cased/tokenizer.json")),
                   "bert-cased.jsonl", all_fields());
}

TEST(tokenizer_reference, BertLowerTokenizerJson) {
  expect_all_match(
      Tokenizer::from_path(shared_path("tokenizers/bert-base-cased/tokenizer-lowercase.json")),
      "bert-lower.jsonl", all_fields());
}

TEST(tokenizer_reference, BartVocabJsonAndMerges) {
  // vocabdir holds only vocab.json + merges.txt: the RoBERTa/BART defaults must reproduce
  // everything tokenizer.json does.
  expect_all_match(Tokenizer::from_path(shared_path("tokenizers/bart-large-cnn/vocabdir")),
                   "bart.jsonl", all_fields());
}

TEST(tokenizer_reference, BertVocabTxtCased) {
  const std::string dir = vocab_dir("cased", shared_path("tokenizers/bert-base-cased/vocab.txt"),
                                    R"({"do_lower_case": false})");
  expect_all_match(Tokenizer::from_path(dir), "bert-cased.jsonl", all_fields());
  std::filesystem::remove_all(dir);
}

TEST(tokenizer_reference, BertVocabTxtLowerCaseFromConfig) {
  const std::string dir = vocab_dir("lower", shared_path("tokenizers/bert-base-cased/vocab.txt"),
                                    R"({"do_lower_case": true})");
  expect_all_match(Tokenizer::from_path(dir), "bert-lower.jsonl", all_fields());
  std::filesystem::remove_all(dir);
}

TEST(tokenizer_reference, BertVocabTxtWithoutConfigLowerCasesLikeHuggingFace) {
  // BertTokenizer's default is do_lower_case=True.
  const std::string dir =
      vocab_dir("noconfig", shared_path("tokenizers/bert-base-cased/vocab.txt"), "");
  expect_all_match(Tokenizer::from_path(dir), "bert-lower.jsonl", all_fields());
  std::filesystem::remove_all(dir);
}

TEST(tokenizer_reference, JsonRoundTripOfConvertedLayoutMatches) {
  // A vocab-file tokenizer re-loaded from its tokenizer.json form (as a model file would embed
  // it) behaves identically.
  const Tokenizer from_files =
      Tokenizer::from_path(shared_path("tokenizers/bart-large-cnn/vocabdir"));
  const Tokenizer from_json = Tokenizer::from_json_string(from_files.to_json_string());
  expect_all_match(from_json, "bart.jsonl", {"ids", "tokens", "offsets_bytes", "decoded"});
}

}  // namespace
}  // namespace kiln::tok
