// Word/label alignment against the real bert-base-cased tokenizer. Expected WordPiece splits were
// worked out independently (greedy longest match over vocab.txt), not copied from kiln's output.
#include "train/data.h"

#include <gtest/gtest.h>

#include "core/error.h"

#include <filesystem>
#include <fstream>

#include "tests/cli/cli_util.h"

namespace kiln::train {
namespace {

const std::string kTokenizer = std::string(KILN_SHARED_DIR) + "/tokenizers/bert-base-cased";

std::string write_file(const testing::TempDir& dir, const std::string& name,
                       const std::string& content) {
  std::ofstream(dir / name) << content;
  return dir / name;
}

constexpr int64_t X = kIgnoreLabel;

TEST(TrainData, FirstSubTokenOfEachWordCarriesTheLabel) {
  if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP();
  testing::TempDir tmp;
  const auto path =
      write_file(tmp, "d.jsonl",
                 R"({"tokens": ["Transformers", "are", "unbelievably", "good", "keyphrases", "."],)"
                 R"( "bio_tags": ["B-KEY", "O", "B-KEY", "I-KEY", "B-KEY", "O"]})"
                 "\n");
  const RawData raw = read_rows(path, TextTask::TokenClassification, "tokens", "bio_tags");
  const auto labels = labels_from_data(raw, TextTask::TokenClassification);
  ASSERT_EQ(labels, (std::vector<std::string>{"O", "B-KEY", "I-KEY"}));
  const auto tok = tok::Tokenizer::from_path(kTokenizer);
  EncodeOptions opt;
  const auto ex = encode_examples(raw, tok, labels, opt);
  ASSERT_EQ(ex.size(), 1u);
  // [CLS] Transformers are un ##bel ##ie ##va ##bly good key ##ph ##rase ##s . [SEP]
  EXPECT_EQ(ex[0].ids, (std::vector<int32_t>{101, 25267, 1132, 8362, 8511, 1663, 2497, 4999, 1363,
                                             2501, 7880, 24839, 1116, 119, 102}));
  EXPECT_EQ(ex[0].labels, (std::vector<int64_t>{X, 1, 0, 1, X, X, X, X, 2, 1, X, X, X, 0, X}));
  EXPECT_EQ(ex[0].word_tokens, (std::vector<int64_t>{1, 2, 3, 8, 9, 13}));
  EXPECT_EQ(ex[0].word_labels, (std::vector<int64_t>{1, 0, 1, 2, 1, 0}));
  EXPECT_EQ(ex[0].type_ids, std::vector<int32_t>(15, 0));

  // Truncation keeps the special tokens; words past the limit have no token.
  opt.max_length = 6;
  const auto cut = encode_examples(raw, tok, labels, opt);
  EXPECT_EQ(cut[0].ids, (std::vector<int32_t>{101, 25267, 1132, 8362, 8511, 102}));
  EXPECT_EQ(cut[0].labels, (std::vector<int64_t>{X, 1, 0, 1, X, X}));
  EXPECT_EQ(cut[0].word_tokens, (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  EXPECT_EQ(cut[0].word_labels.size(), 6u);
}

TEST(TrainData, ClassificationLabelsAndTruncation) {
  if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP();
  testing::TempDir tmp;
  const auto path = write_file(tmp, "c.jsonl",
                               "{\"text\": \"Transformers are good\", \"label\": 1}\n\n"
                               "{\"text\": \"are\", \"label\": 0}\n");
  const RawData raw = read_rows(path, TextTask::SequenceClassification, "text", "label");
  ASSERT_EQ(raw.rows.size(), 2u);
  EXPECT_EQ(raw.rows[1].line, 3u);  // blank lines still count
  const auto labels = labels_from_data(raw, TextTask::SequenceClassification);
  EXPECT_EQ(labels, (std::vector<std::string>{"0", "1"}));
  EncodeOptions opt;
  opt.task = TextTask::SequenceClassification;
  opt.max_length = 3;
  const auto ex = encode_examples(raw, tok::Tokenizer::from_path(kTokenizer), labels, opt);
  EXPECT_EQ(ex[0].ids, (std::vector<int32_t>{101, 25267, 102}));
  EXPECT_EQ(ex[0].labels, std::vector<int64_t>{1});
  EXPECT_EQ(ex[1].labels, std::vector<int64_t>{0});
}

TEST(TrainData, StringLabelsSortWithOFirstAndUnknownLabelsNameTheLine) {
  if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP();
  testing::TempDir tmp;
  const auto path = write_file(tmp, "d.jsonl",
                               "{\"tokens\": [\"a\", \"b\"], \"bio_tags\": [\"I-X\", \"O\"]}\n"
                               "{\"tokens\": [\"a\"], \"bio_tags\": [\"B-X\"]}\n");
  const RawData raw = read_rows(path, TextTask::TokenClassification, "tokens", "bio_tags");
  EXPECT_EQ(labels_from_data(raw, TextTask::TokenClassification),
            (std::vector<std::string>{"O", "B-X", "I-X"}));
  try {
    encode_examples(raw, tok::Tokenizer::from_path(kTokenizer), {"O", "B-X"}, EncodeOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":1: label \"I-X\""), std::string::npos)
        << e.what();
  }
}

TEST(TrainData, TextWithCharacterSpansBecomesWordTags) {
  if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP();
  testing::TempDir tmp;
  const auto tok = tok::Tokenizer::from_path(kTokenizer);
  const auto path = write_file(
      tmp, "s.jsonl",
      R"({"text": "Deep learning for keyphrase extraction.", "spans": [)"
      R"({"start": 18, "end": 38, "label": "KEY"}, {"start": 0, "end": 13, "label": "KEY"}]})"
      "\n"
      R"({"text": "abc", "spans": [{"start": 1, "end": 9, "label": "KEY"}]})"
      "\n");
  try {
    read_rows(path, TextTask::TokenClassification, "text", "spans", &tok);
    FAIL() << "expected an error for the out-of-range span";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2: spans[0] [1, 9)"), std::string::npos)
        << e.what();
  }
  std::ofstream(path, std::ios::trunc)
      << R"({"text": "Deep learning for keyphrase extraction.", "spans": [)"
      << R"({"start": 18, "end": 38, "label": "KEY"}, {"start": 0, "end": 13, "label": "KEY"}]})";
  const RawData raw = read_rows(path, TextTask::TokenClassification, "text", "spans", &tok);
  ASSERT_EQ(raw.rows.size(), 1u);
  EXPECT_EQ(raw.rows[0].words,
            (std::vector<std::string>{"Deep", "learning", "for", "keyphrase", "extraction", "."}));
  std::vector<std::string> tags;
  for (const auto& l : raw.rows[0].labels) tags.push_back(l.name);
  EXPECT_EQ(tags, (std::vector<std::string>{"B-KEY", "I-KEY", "O", "B-KEY", "I-KEY", "O"}));
}

// The words text+spans data is tagged on are the ones the chosen splitter finds: with regex-words
// (Inspec's tokens) "industry's" and "quasi-weighted" stay whole, and no tokenizer is needed.
TEST(TrainData, SpansAreTaggedOnTheWordSplittersWords) {
  testing::TempDir tmp;
  // "The industry's quasi-weighted model." with "quasi-weighted model" (bytes 15-35) a keyphrase.
  const auto path = write_file(tmp, "s.jsonl",
                               R"({"text": "The industry's quasi-weighted model.", "spans": [)"
                               R"({"start": 15, "end": 35, "label": "KEY"}]})"
                               "\n");
  const RawData raw = read_rows(path, TextTask::TokenClassification, "text", "spans", nullptr,
                                data::Format::Auto, tok::WordSplitter::RegexWords);
  ASSERT_EQ(raw.rows.size(), 1u);
  EXPECT_EQ(raw.rows[0].words,
            (std::vector<std::string>{"The", "industry's", "quasi-weighted", "model", "."}));
  std::vector<std::string> tags;
  for (const auto& l : raw.rows[0].labels) tags.push_back(l.name);
  EXPECT_EQ(tags, (std::vector<std::string>{"O", "O", "B-KEY", "I-KEY", "O"}));

  // The tokenizer splitter needs a tokenizer; its words are the pre-tokenizer's.
  EXPECT_THROW(read_rows(path, TextTask::TokenClassification, "text", "spans"), Error);
  if (!std::filesystem::exists(kTokenizer)) return;
  const auto tok = tok::Tokenizer::from_path(kTokenizer);
  const RawData bert = read_rows(path, TextTask::TokenClassification, "text", "spans", &tok);
  EXPECT_EQ(bert.rows[0].words, (std::vector<std::string>{"The", "industry", "'", "s", "quasi", "-",
                                                          "weighted", "model", "."}));
}

TEST(TrainData, StructuralErrorsNameFileAndLine) {
  testing::TempDir tmp;
  auto expect_error = [&](const std::string& content, const std::string& needle) {
    const auto path = write_file(tmp, "bad.jsonl", content);
    try {
      read_rows(path, TextTask::TokenClassification, "tokens", "bio_tags");
      ADD_FAILURE() << "no error for " << content;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path + needle), std::string::npos) << e.what();
    }
  };
  const std::string ok = "{\"tokens\": [\"a\"], \"bio_tags\": [\"O\"]}\n";
  expect_error(ok + "{\"tokens\": [\"a\", \"b\"], \"bio_tags\": [\"O\"]}\n",
               ":2: 2 words but 1 tags");
  expect_error(ok + ok + "{\"tokens\": [\"a\"]}\n", ":3: missing field \"bio_tags\"");
  expect_error(ok + "{\"tokens\": [\"a\"], \"bio_tags\": [\"O\"\n", ":2: malformed JSON");
  expect_error("{\"tokens\": [\"a\"], \"bio_tags\": [3.5]}\n",
               ":1: bio_tags[0] must be a string or an integer label");
}

}  // namespace
}  // namespace kiln::train
