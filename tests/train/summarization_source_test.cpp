// The encoder input of summarization examples (train/summarization_source.h): one text as the
// tokenizer encodes it, review groups joined as PRIMERA's preprocessing does (checked against the
// led-tiny fixture's input_ids, made by transformers' LEDTokenizer from "doc <doc-sep> doc"),
// the K longest documents kept in order, truncation that keeps the end token, and errors that
// name the line and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nn/state_dict_io.h"
#include "train/summarization_source.h"

namespace kiln::train {
namespace {

const std::string kShared = KILN_SHARED_DIR;

data::Record record(nlohmann::json fields) {
  return {std::move(fields), "in.jsonl", 7};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SummarizationSource, ReviewGroupsJoinLikePrimeraWithGlobalAttentionOnSeparators) {
  const std::string dir = kShared + "/refs/models/led-tiny";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
  const tok::Tokenizer tok = tok::Tokenizer::from_path(dir);
  std::ifstream in(dir + "/reference.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  const nn::StateDict tensors = nn::load_safetensors(dir + "/reference.safetensors");
  const std::vector<int64_t> ids = tensors.at("input_ids").to_ints();
  const std::vector<int64_t> mask = tensors.at("attention_mask").to_ints();
  const std::vector<int64_t> global = tensors.at("global_attention_mask").to_ints();
  const int64_t len = tensors.at("input_ids").size(1);
  SourceOptions o;
  o.doc_sep_id = default_doc_sep_id(tok);
  EXPECT_EQ(o.doc_sep_id, 50265);  // <doc-sep>
  for (size_t i = 0; i < ref["reference_documents"].size(); ++i) {
    const EncodedSource s =
        encode_source(record({{"reviews", ref["reference_documents"][i]}}), tok, o);
    std::vector<int64_t> want, want_global;
    for (int64_t j = 0; j < len; ++j)
      if (mask[i * len + j]) {
        want.push_back(ids[i * len + j]);
        want_global.push_back(global[i * len + j]);
      }
    EXPECT_EQ(s.ids, want) << "example " << i;
    EXPECT_EQ(s.global_attention, want_global) << "example " << i;
    EXPECT_EQ(s.documents, static_cast<int64_t>(ref["reference_documents"][i].size()));
    EXPECT_FALSE(s.truncated);
  }
}

class BartSource : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = kShared + "/tokenizers/bart-large-cnn";
    if (!std::filesystem::exists(dir)) GTEST_SKIP() << "tokenizer not present";
    tok_ = std::make_unique<tok::Tokenizer>(tok::Tokenizer::from_path(dir));
  }
  std::vector<int64_t> encode(const std::string& text, bool special) {
    const auto e = tok_->encode(text, special);
    return {e.ids.begin(), e.ids.end()};
  }
  std::unique_ptr<tok::Tokenizer> tok_;
};

TEST_F(BartSource, TextIsEncodedWithSpecialTokensAndDocumentsJoinWithEos) {
  SourceOptions o;
  o.doc_sep_id = default_doc_sep_id(*tok_);
  EXPECT_EQ(o.doc_sep_id, 2);  // no <doc-sep>: </s>
  EXPECT_EQ(encode_source(record({{"text", "Great food."}}), *tok_, o).ids,
            encode("Great food.", true));
  const EncodedSource s =
      encode_source(record({{"documents", {"Great food.", "Slow service."}}}), *tok_, o);
  std::vector<int64_t> want = {0};
  for (int64_t id : encode("Great food.", false)) want.push_back(id);
  want.push_back(2);
  for (int64_t id : encode("Slow service.", false)) want.push_back(id);
  want.push_back(2);
  EXPECT_EQ(s.ids, want);
  EXPECT_EQ(encode_source(record({{"input_ids", {0, 100, 2}}}), *tok_, o).ids,
            (std::vector<int64_t>{0, 100, 2}));
}

TEST_F(BartSource, KeepsTheKLongestInOrderAndTruncationKeepsTheEndToken) {
  SourceOptions o;
  o.doc_sep_id = 2;
  o.k_top_longest = 2;
  const EncodedSource s = encode_source(record({{"reviews",
                                                 {"A long first review with many words.", "Short.",
                                                  "Another fairly long review here."}}}),
                                        *tok_, o);
  EXPECT_EQ(s.documents, 2);
  std::vector<int64_t> want = {0};
  for (int64_t id : encode("A long first review with many words.", false)) want.push_back(id);
  want.push_back(2);
  for (int64_t id : encode("Another fairly long review here.", false)) want.push_back(id);
  want.push_back(2);
  EXPECT_EQ(s.ids, want);

  o.max_source_length = 5;
  const EncodedSource cut =
      encode_source(record({{"text", "one two three four five six"}}), *tok_, o);
  EXPECT_TRUE(cut.truncated);
  ASSERT_EQ(cut.ids.size(), 5u);
  EXPECT_EQ(cut.ids.front(), 0);
  EXPECT_EQ(cut.ids.back(), 2);
}

TEST_F(BartSource, BadRecordsNameTheLineAndField) {
  SourceOptions o;
  o.vocab_size = 50265;
  EXPECT_NE(error_of([&] {
              encode_source(record({{"reviews", nlohmann::json::array()}}), *tok_, o);
            }).find("in.jsonl:7: field 'reviews' is an empty list"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              encode_source(record({{"documents", {"a", 3}}}), *tok_, o);
            }).find("field 'documents' item 1 is 3, not a text"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              encode_source(record({{"input_ids", {0, 99999}}}), *tok_, o);
            }).find("outside the model's vocabulary of 50265"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              encode_source(record({{"title", "x"}}), *tok_, o);
            }).find("text"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::train
