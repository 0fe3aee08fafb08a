// Behaviour beyond the reference fixtures: malformed files, invalid UTF-8, added tokens,
// truncation and padding, pairs, batches, the hand-written GPT-2 split and the smaller pipeline
// components, each against expectations worked out from Hugging Face's documented behaviour.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tests/tokenizer/reference_util.h"
#include "tokenizer/gpt2_split.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace {

using testing::shared_path;

const Tokenizer& bert() {
  static const Tokenizer t =
      Tokenizer::from_path(shared_path("tokenizers/bert-base-cased/tokenizer.json"));
  return t;
}
const Tokenizer& bart() {
  static const Tokenizer t = Tokenizer::from_path(shared_path("tokenizers/bart-large-cnn"));
  return t;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// ---------------------------------------------------------------- reference comparison sanity

TEST(tokenizer_compare, DetectsADifferentTokenizer) {
  // The reference comparison must be able to fail: the cased tokenizer does not reproduce the
  // lower-casing fixture.
  const auto c = testing::compare_with_reference(
      bert(), shared_path("refs/tokenizers/bert-lower.jsonl"), {"ids", "tokens"});
  EXPECT_FALSE(c.all_match());
  EXPECT_LT(c.matched.at("ids"), c.checked.at("ids"));
  EXPECT_FALSE(c.failures.empty());
  EXPECT_NE(c.failures[0].find("line "), std::string::npos);
}

// ---------------------------------------------------------------- malformed tokenizer.json

const char* kTinyWordPiece = R"({
  "version": "1.0",
  "added_tokens": [{"id": 0, "content": "[UNK]", "special": true, "normalized": false}],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null,
  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {"[UNK]": 0, "hello": 1, "world": 2, ",": 3, "!": 4, "wor": 5, "##ld": 6}}
})";

nlohmann::json tiny() {
  return nlohmann::json::parse(kTinyWordPiece);
}

std::string load_error(const nlohmann::json& j) {
  return error_of([&] { Tokenizer::from_json_string(j.dump()); });
}

TEST(tokenizer_json, TinyWordPieceLoads) {
  const Tokenizer t = Tokenizer::from_json_string(kTinyWordPiece);
  const Encoding e = t.encode("hello world, world!");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"hello", "world", ",", "world", "!"}));
  EXPECT_EQ(t.decode(e.ids), "hello world, world!");
}

TEST(tokenizer_json, InvalidJsonIsReported) {
  EXPECT_NE(error_of([] { Tokenizer::from_json_string("{\"model\": "); }).find("not valid JSON"),
            std::string::npos);
}

TEST(tokenizer_json, ErrorsNameTheField) {
  struct Case {
    std::function<void(nlohmann::json&)> corrupt;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& j) { j.erase("model"); }, "'model'"},
      {[](auto& j) { j["model"]["vocab"] = "oops"; }, "'model.vocab'"},
      {[](auto& j) { j["model"]["vocab"]["hello"] = -3; }, "'model.vocab[\"hello\"]'"},
      {[](auto& j) { j["model"]["type"] = "Unigram"; }, "'model.type'"},
      {[](auto& j) { j["model"]["unk_token"] = "<nope>"; }, "'model'"},
      {[](auto& j) { j["model"]["max_input_chars_per_word"] = "many"; },
       "'model.max_input_chars_per_word'"},
      {[](auto& j) {
         j["normalizer"] = {{"type", "Shout"}};
       },
       "'normalizer.type'"},
      {[](auto& j) {
         j["normalizer"] = {{"type", "BertNormalizer"}, {"lowercase", "yes"}};
       },
       "'normalizer.lowercase'"},
      {[](auto& j) {
         j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"x", 1}}}}};
       },
       "'normalizer.normalizers[1].type'"},
      {[](auto& j) {
         j["pre_tokenizer"] = {
             {"type", "Sequence"},
             {"pretokenizers", {{{"type", "ByteLevel"}, {"add_prefix_space", 3}}}}};
       },
       "'pre_tokenizer.pretokenizers[0].add_prefix_space'"},
      {[](auto& j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Isolated"}};
       },
       "'pre_tokenizer.pattern.Regex'"},
      {[](auto& j) { j["added_tokens"][0]["id"] = "zero"; }, "'added_tokens[0].id'"},
      {[](auto& j) { j["added_tokens"][0].erase("content"); }, "'added_tokens[0].content'"},
      {[](auto& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"},
                                {"single", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}}},
                                {"pair", nlohmann::json::array()},
                                {"special_tokens", nlohmann::json::object()}};
       },
       "'post_processor.single[0].SpecialToken.id'"},
      {[](auto& j) {
         j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", "</s>"}};
       },
       "'post_processor.sep'"},
      {[](auto& j) {
         j["decoder"] = {{"type", "Metaspace2"}};
       },
       "'decoder.type'"},
      {[](auto& j) {
         j["truncation"] = {{"max_length", 8}, {"strategy", "Sideways"}};
       },
       "'truncation.strategy'"},
      {[](auto& j) {
         j["padding"] = {{"strategy", 5}};
       },
       "'padding.strategy'"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    nlohmann::json j = tiny();
    cases[i].corrupt(j);
    const std::string msg = load_error(j);
    EXPECT_NE(msg.find(cases[i].field), std::string::npos)
        << "case " << i << ": expected the message to name " << cases[i].field << ", got: " << msg;
  }
}

TEST(tokenizer_json, BpeMergesErrorsNameTheEntry) {
  nlohmann::json j = {{"model",
                       {{"type", "BPE"},
                        {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}},
                        {"merges", nlohmann::json::array({"a b", "a c"})}}}};
  EXPECT_NE(load_error(j).find("merges[1]"), std::string::npos) << load_error(j);
  j["model"]["merges"] = nlohmann::json::array({"a b", "abc"});
  EXPECT_NE(load_error(j).find("'model.merges[1]'"), std::string::npos) << load_error(j);
  j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});  // [a, b] form
  const Tokenizer t = Tokenizer::from_json_string(j.dump());
  EXPECT_EQ(t.encode("ab").ids, (std::vector<int32_t>{2}));
}

TEST(tokenizer_json, MissingPathIsReported) {
  EXPECT_NE(
      error_of([] { Tokenizer::from_path("/nonexistent/tokenizer.json"); }).find("does not exist"),
      std::string::npos);
}

// ---------------------------------------------------------------- UTF-8

TEST(tokenizer_utf8, InvalidInputIsRejectedWithPosition) {
  for (const std::string bad :
       {std::string("ab\xff"), std::string("ok \xC3"), std::string("\xED\xA0\x80 surrogate"),
        std::string("\xC0\x80"), std::string("\xF4\x90\x80\x80")}) {
    const std::string msg = error_of([&] { bart().encode(bad); });
    EXPECT_NE(msg.find("not valid UTF-8"), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte offset"), std::string::npos) << msg;
    EXPECT_NE(error_of([&] { bert().encode_pair("fine", bad); }).find("second text"),
              std::string::npos);
  }
  EXPECT_NE(error_of([] { bert().encode("x\x80y"); }).find("byte offset 1"), std::string::npos);
}

TEST(tokenizer_utf8, LossyConversionMatchesRust) {
  // Rust's from_utf8_lossy replaces each maximal invalid subpart with one U+FFFD.
  EXPECT_EQ(utf8_lossy("a\xF0\x9F\x98z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(utf8_lossy("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("h\xC3\xA9"), "h\xC3\xA9");
}

TEST(tokenizer_utf8, DecodingHalfACharacterGivesReplacementCharacter) {
  // "😀" is two byte-level tokens; decoding only the first must not produce invalid UTF-8.
  const Encoding e = bart().encode(" \xF0\x9F\x98\x80", false);
  ASSERT_EQ(e.ids.size(), 2u);
  EXPECT_EQ(bart().decode({e.ids[0]}), " \xEF\xBF\xBD");
  EXPECT_EQ(bart().decode(e.ids), " \xF0\x9F\x98\x80");
}

TEST(tokenizer_utf8, ControlAndNulCharactersAreHandled) {
  const std::string text(
      "a\0b\x01"
      "c",
      5);
  const Encoding e = bert().encode(text);
  EXPECT_EQ(e.tokens.front(), "[CLS]");
  EXPECT_EQ(bert().decode(e.ids), "abc");
  EXPECT_GT(bart().encode(text).size(), 2u);
}

// ---------------------------------------------------------------- added tokens

TEST(tokenizer_added_tokens, SpecialTokensInTextAreNeverSplit) {
  const Encoding e = bert().encode("Hi [MASK] there[SEP]", false);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"Hi", "[MASK]", "there", "[SEP]"}));
  EXPECT_EQ(e.offsets[1], (Offsets{3, 9}));
  EXPECT_EQ(e.offsets[3], (Offsets{15, 20}));
  EXPECT_EQ(e.word_ids, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(bert().decode(e.ids, true), "Hi there");
  EXPECT_EQ(bert().decode(e.ids, false), "Hi [MASK] there [SEP]");
}

TEST(tokenizer_added_tokens, LstripTakesThePrecedingSpace) {
  // BART's <mask> has lstrip=true: the space before it belongs to the mask token, whose token
  // string is then the matched text " <mask>" (as Hugging Face reports it).
  const Encoding e = bart().encode("Hello <mask> world", false);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{31414, 50264, 232}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"Hello", " <mask>", "Ġworld"}));
  EXPECT_EQ(e.offsets[1], (Offsets{6, 12}));  // RoBERTa trims the leading space of " <mask>" too
  EXPECT_EQ(e.offsets[2], (Offsets{13, 18}));
}

// ---------------------------------------------------------------- pairs, truncation, padding

TEST(tokenizer_pairs, BertPairLayout) {
  const Encoding e = bert().encode_pair("Hello world", "Bye");
  EXPECT_EQ(e.tokens,
            (std::vector<std::string>{"[CLS]", "Hello", "world", "[SEP]", "Bye", "[SEP]"}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(e.special_tokens_mask, (std::vector<uint8_t>{1, 0, 0, 1, 0, 1}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, -1, 1, -1}));
  EXPECT_EQ(e.word_ids, (std::vector<int32_t>{-1, 0, 1, -1, 0, -1}));
  EXPECT_EQ(e.offsets[4], (Offsets{0, 3}));  // offsets are into the second text
  EXPECT_EQ(e.attention_mask, (std::vector<uint8_t>(6, 1)));
}

TEST(tokenizer_pairs, WithoutSpecialTokensKeepsTypeIds) {
  const Encoding e = bert().encode_pair("Hello", "Bye", false);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"Hello", "Bye"}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 1}));
  const Encoding r = bart().encode_pair("Hello", "Bye", false);
  EXPECT_EQ(r.size(), bart().encode("Hello", false).size() + bart().encode("Bye", false).size());
}

std::string words(int n, const std::string& w) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + w;
  return s;
}

TEST(tokenizer_truncation, SingleSequenceKeepsSpecialTokens) {
  Tokenizer t = bert();
  t.set_truncation(TruncationParams{6, TruncationStrategy::kLongestFirst, false});
  const Encoding e = t.encode("one two three four five six seven");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "one", "two", "three", "four", "[SEP]"}));
  t.set_truncation(TruncationParams{6, TruncationStrategy::kLongestFirst, true});
  EXPECT_EQ(t.encode("one two three four five six seven").tokens,
            (std::vector<std::string>{"[CLS]", "four", "five", "six", "seven", "[SEP]"}));
}

TEST(tokenizer_truncation, PairStrategies) {
  Tokenizer t = bert();
  const std::string a = words(20, "cat"), b = words(5, "dog");
  // longest_first: 16 - 3 specials = 13; the short side (5) fits, the long side gets 8.
  t.set_truncation(TruncationParams{16, TruncationStrategy::kLongestFirst, false});
  Encoding e = t.encode_pair(a, b);
  EXPECT_EQ(e.size(), 16u);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "cat"), 8);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "dog"), 5);
  // Both too long: split evenly, the extra one to the second.
  t.set_truncation(TruncationParams{12, TruncationStrategy::kLongestFirst, false});
  e = t.encode_pair(words(20, "cat"), words(20, "dog"));
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "cat"), 4);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "dog"), 5);
  // only_first.
  t.set_truncation(TruncationParams{16, TruncationStrategy::kOnlyFirst, false});
  e = t.encode_pair(a, b);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "cat"), 8);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "dog"), 5);
  // only_second cannot remove 12 tokens from a 5-token second text.
  t.set_truncation(TruncationParams{16, TruncationStrategy::kOnlySecond, false});
  EXPECT_NE(error_of([&] { t.encode_pair(a, b); }).find("too short"), std::string::npos);
  e = t.encode_pair(b, a);
  EXPECT_EQ(e.size(), 16u);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "dog"), 5);
  EXPECT_EQ(std::count(e.tokens.begin(), e.tokens.end(), "cat"), 8);
}

TEST(tokenizer_padding, FixedAndBatchLongest) {
  Tokenizer t = bert();
  PaddingParams p;
  p.fixed_length = 8;
  t.set_padding(p);
  Encoding e = t.encode("Hello world");
  ASSERT_EQ(e.size(), 8u);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{101, 8667, 1362, 102, 0, 0, 0, 0}));
  EXPECT_EQ(e.attention_mask, (std::vector<uint8_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(e.special_tokens_mask, (std::vector<uint8_t>{1, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(e.tokens[7], "[PAD]");
  EXPECT_EQ(t.decode(e.ids), "Hello world");

  p.fixed_length.reset();
  p.pad_left = true;
  p.pad_to_multiple_of = 4;
  t.set_padding(p);
  const auto batch = t.encode_batch(std::vector<std::string>{"a", "one two three four"});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].size(), 8u);  // longest is 6, rounded up to a multiple of 4
  EXPECT_EQ(batch[1].size(), 8u);
  EXPECT_EQ(batch[0].attention_mask, (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(batch[1].ids[0], 0);
  EXPECT_EQ(batch[1].ids[2], 101);
}

TEST(tokenizer_padding, PaddingFromTokenizerJson) {
  nlohmann::json j = tiny();
  j["padding"] = {{"strategy", {{"Fixed", 5}}},
                  {"direction", "Right"},
                  {"pad_id", 0},
                  {"pad_type_id", 0},
                  {"pad_token", "[UNK]"}};
  j["truncation"] = {
      {"max_length", 2}, {"strategy", "LongestFirst"}, {"direction", "Right"}, {"stride", 0}};
  const Tokenizer t = Tokenizer::from_json_string(j.dump());
  const Encoding e = t.encode("hello world hello");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{1, 2, 0, 0, 0}));
}

// ---------------------------------------------------------------- batches and threads

TEST(tokenizer_batch, SameResultWithOneAndTwoThreads) {
  const auto rows = testing::load_jsonl(shared_path("refs/tokenizers/bart.jsonl"));
  std::vector<EncodeInput> inputs;
  for (const auto& r : rows)
    inputs.push_back({r["text"].get<std::string>(),
                      r.contains("pair") ? std::optional<std::string>(r["pair"].get<std::string>())
                                         : std::nullopt});
  const int saved = num_threads();
  for (const Tokenizer* t : {&bart(), &bert()}) {
    set_num_threads(1);
    const auto one = t->encode_batch(inputs);
    set_num_threads(2);
    const auto two = t->encode_batch(inputs);
    ASSERT_EQ(one.size(), inputs.size());
    ASSERT_EQ(two.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(one[i].ids, two[i].ids) << "item " << i;
      EXPECT_EQ(one[i].offsets, two[i].offsets) << "item " << i;
      EXPECT_EQ(one[i].type_ids, two[i].type_ids) << "item " << i;
      // And the batch agrees with one-at-a-time encoding (which the reference tests check).
      const Encoding single = inputs[i].pair ? t->encode_pair(inputs[i].text, *inputs[i].pair)
                                             : t->encode(inputs[i].text);
      EXPECT_EQ(single.ids, two[i].ids) << "item " << i;
    }
  }
  set_num_threads(saved);
}

TEST(tokenizer_batch, ErrorNamesTheItem) {
  const std::vector<std::string> texts = {"fine", "also fine", "bad \xff"};
  EXPECT_NE(error_of([&] { bert().encode_batch(texts); }).find("batch item 2"), std::string::npos);
}

// ---------------------------------------------------------------- GPT-2 split

std::vector<std::string> gpt2_pieces(std::string_view s) {
  std::vector<std::string> out;
  gpt2_split(s, [&](size_t a, size_t b) { out.emplace_back(s.substr(a, b - a)); });
  return out;
}

TEST(tokenizer_gpt2_split, MatchesThePattern) {
  using V = std::vector<std::string>;
  EXPECT_EQ(gpt2_pieces("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(gpt2_pieces("it's they're we'll I'd 'S"),
            (V{"it", "'s", " they", "'re", " we", "'ll", " I", "'d", " '", "S"}));
  EXPECT_EQ(gpt2_pieces("a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(gpt2_pieces("a \n b"), (V{"a", " \n", " b"}));
  EXPECT_EQ(gpt2_pieces("a\tb"), (V{"a", "\t", "b"}));
  EXPECT_EQ(gpt2_pieces("end   "), (V{"end", "   "}));
  EXPECT_EQ(gpt2_pieces("x123 456y"), (V{"x", "123", " 456", "y"}));
  EXPECT_EQ(gpt2_pieces("hi!!! ??"), (V{"hi", "!!!", " ??"}));
  EXPECT_EQ(gpt2_pieces("caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC"),
            (V{"caf\xC3\xA9", " \xE6\x9D\xB1\xE4\xBA\xAC"}));
  EXPECT_EQ(gpt2_pieces("e\xCC\x81"), (V{"e", "\xCC\x81"}));  // a combining mark is not \p{L}
  EXPECT_EQ(gpt2_pieces("a\xC2\xA0"
                        "b"),
            (V{"a", "\xC2\xA0", "b"}));  // NBSP is \s
  EXPECT_EQ(gpt2_pieces(""), V{});
}

// ---------------------------------------------------------------- other pipeline pieces

TEST(tokenizer_components, NormalizerSequenceAndWhitespace) {
  nlohmann::json j = tiny();
  j["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers", {{{"type", "NFD"}}, {{"type", "Lowercase"}}, {{"type", "StripAccents"}}}}};
  const Tokenizer t = Tokenizer::from_json_string(j.dump());
  const std::string text = "H\xC3\xA9llo, WORLDLD!";
  const Encoding e = t.encode(text);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"hello", ",", "world", "##ld", "!"}));
  EXPECT_EQ(e.offsets, (std::vector<Offsets>{{0, 6}, {6, 7}, {8, 13}, {13, 15}, {15, 16}}));
  EXPECT_EQ(e.word_ids, (std::vector<int32_t>{0, 1, 2, 2, 3}));
}

TEST(tokenizer_components, NfcComposes) {
  nlohmann::json j = {{"normalizer", {{"type", "NFC"}}},
                      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                      {"model",
                       {{"type", "WordPiece"},
                        {"unk_token", "?"},
                        {"vocab", {{"?", 0}, {"\xC3\xA9", 1}, {"e", 2}}}}}};
  const Tokenizer t = Tokenizer::from_json_string(j.dump());
  EXPECT_EQ(t.encode("e\xCC\x81").ids, (std::vector<int32_t>{1}));
  j["normalizer"] = {{"type", "NFD"}};
  EXPECT_EQ(Tokenizer::from_json_string(j.dump()).encode("\xC3\xA9").ids,
            (std::vector<int32_t>{0}));  // "e" + U+0301 is not a vocabulary entry
}

TEST(tokenizer_components, ByteLevelWithPrefixSpace) {
  nlohmann::json j = nlohmann::json::parse(
      Tokenizer::from_path(shared_path("tokenizers/bart-large-cnn/tokenizer.json"))
          .to_json_string());
  j["pre_tokenizer"]["add_prefix_space"] = true;
  j["post_processor"]["add_prefix_space"] = true;
  const Tokenizer t = Tokenizer::from_json_string(j.dump());
  const Encoding e = t.encode("Hello world");
  // With a prefix space "Hello" becomes "ĠHello" and keeps offsets (0, 5).
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"<s>", "\xC4\xA0Hello", "\xC4\xA0world", "</s>"}));
  EXPECT_EQ(e.offsets[1], (Offsets{0, 5}));
  EXPECT_EQ(e.offsets[2], (Offsets{6, 11}));
  EXPECT_EQ(t.decode(e.ids), " Hello world");
}

TEST(tokenizer_components, VocabularyLookups) {
  EXPECT_EQ(bert().token_to_id("[CLS]"), 101);
  EXPECT_EQ(bert().id_to_token(102), "[SEP]");
  EXPECT_EQ(bert().vocab_size(), 28996u);
  EXPECT_EQ(bart().vocab_size(), 50265u);
  EXPECT_FALSE(bert().token_to_id("definitely-not-a-token").has_value());
  EXPECT_EQ(bert().num_special_tokens_to_add(true), 3u);
  EXPECT_EQ(bart().num_special_tokens_to_add(true), 4u);
  EXPECT_EQ(bert().decode({101, 999999, 8667, 102}), "Hello");  // unknown ids are skipped
}

TEST(tokenizer_components, LongWordBecomesUnknown) {
  const Encoding e = bert().encode(std::string(101, 'a'), false);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(e.offsets[0], (Offsets{0, 101}));
}

}  // namespace
}  // namespace kiln::tok
