// Word splitters (tokenizer/word_splitter.h). The regex-words expectations were worked out by hand
// from the pattern \w+(?:[-'./]\w+)*|[^\w\s] with Python's Unicode \w (letters, numbers, '_')
// and \s; the Inspec test checks the splitter reproduces the dataset's own `tokens` field, which
// was made with that regex in Python.
#include "tokenizer/word_splitter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/tokenizer/reference_util.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

std::vector<std::string> words(WordSplitter s, const std::string& text,
                               const Tokenizer* t = nullptr) {
  std::vector<std::string> out;
  for (const WordSpan& w : split_words(s, text, t))
    out.push_back(text.substr(w.start, w.end - w.start));
  return out;
}

std::vector<std::string> regex_words(const std::string& text) {
  return words(WordSplitter::RegexWords, text);
}

using V = std::vector<std::string>;

TEST(WordSplitter, RegexWordsKeepsJoinedWordsWhole) {
  EXPECT_EQ(regex_words("industry's expectations"), (V{"industry's", "expectations"}));
  EXPECT_EQ(regex_words("quasi-weighted"), (V{"quasi-weighted"}));
  EXPECT_EQ(regex_words("e-mail"), (V{"e-mail"}));
  EXPECT_EQ(regex_words("3.5 GHz"), (V{"3.5", "GHz"}));
  EXPECT_EQ(regex_words("and/or 1/2 don't."), (V{"and/or", "1/2", "don't", "."}));
  EXPECT_EQ(regex_words("O'Neil's"), (V{"O'Neil's"}));
  EXPECT_EQ(regex_words("v1.2.3-beta"), (V{"v1.2.3-beta"}));
  EXPECT_EQ(regex_words("snake_case_name"), (V{"snake_case_name"}));
}

TEST(WordSplitter, RegexWordsJoinerNeedsAWordCharacterAfterIt) {
  // "U.S." : the second '.' is followed by a space, so it is a word of its own.
  EXPECT_EQ(regex_words("the U.S. economy"), (V{"the", "U.S", ".", "economy"}));
  EXPECT_EQ(regex_words("x- -x"), (V{"x", "-", "-", "x"}));
  EXPECT_EQ(regex_words("a--b"), (V{"a", "-", "-", "b"}));
  EXPECT_EQ(regex_words("co-./op"), (V{"co", "-", ".", "/", "op"}));
  EXPECT_EQ(regex_words("'quoted'"), (V{"'", "quoted", "'"}));
  EXPECT_EQ(regex_words("end.\n"), (V{"end", "."}));
}

TEST(WordSplitter, RegexWordsSplitsPunctuationRunsIntoSingleCharacters) {
  EXPECT_EQ(regex_words("wait...what?!"), (V{"wait", ".", ".", ".", "what", "?", "!"}));
  EXPECT_EQ(regex_words("(a)[b]"), (V{"(", "a", ")", "[", "b", "]"}));
}

TEST(WordSplitter, RegexWordsIsUnicodeAware) {
  const std::string text = "Z\xC3\xBCrich's caf\xC3\xA9 na\xC3\xAFve";  // Zürich's café naïve
  EXPECT_EQ(split_words(WordSplitter::RegexWords, text),
            (std::vector<WordSpan>{{0, 9}, {10, 15}, {16, 22}}));
  // CJK and kana are letters (Lo): one run.
  EXPECT_EQ(regex_words("\xE6\xBC\xA2\xE5\xAD\x97\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"),
            (V{"\xE6\xBC\xA2\xE5\xAD\x97\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"}));
  // Superscript two is a number (No): part of the word.
  EXPECT_EQ(regex_words("x\xC2\xB2"), (V{"x\xC2\xB2"}));
  // A combining accent (Mn) is neither \w nor \s in Python: a word of its own.
  EXPECT_EQ(regex_words("e\xCC\x81"), (V{"e", "\xCC\x81"}));
  // An emoji (So) is one character, one word.
  EXPECT_EQ(regex_words("\xF0\x9F\x99\x82!"), (V{"\xF0\x9F\x99\x82", "!"}));
  // No-break space, ideographic space and U+001C are \s.
  EXPECT_EQ(split_words(WordSplitter::RegexWords,
                        "a\xC2\xA0"
                        "b\xE3\x80\x80"
                        "c\x1C"
                        "d"),
            (std::vector<WordSpan>{{0, 1}, {3, 4}, {7, 8}, {9, 10}}));
}

TEST(WordSplitter, EmptyAndBlankTextHaveNoWords) {
  for (auto s : {WordSplitter::RegexWords, WordSplitter::Whitespace}) {
    EXPECT_TRUE(split_words(s, "").empty());
    EXPECT_TRUE(split_words(s, " \t\n ").empty());
  }
}

TEST(WordSplitter, InvalidUtf8IsAnError) {
  for (auto s : {WordSplitter::RegexWords, WordSplitter::Whitespace}) {
    try {
      split_words(s, "ok \xFF");
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("0xFF at byte offset 3"), std::string::npos) << e.what();
    }
  }
}

TEST(WordSplitter, WhitespaceSplitsOnUnicodeSpaceOnly) {
  EXPECT_EQ(words(WordSplitter::Whitespace, " industry's  quasi-weighted\tU.S.\xE3\x80\x80(x) "),
            (V{"industry's", "quasi-weighted", "U.S.", "(x)"}));
}

TEST(WordSplitter, TokenizerUsesThePreTokenizer) {
  const std::string path = testing::shared_path("tokenizers/bert-base-cased/tokenizer.json");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "tokenizer fixture not present";
  const Tokenizer bert = Tokenizer::from_path(path);
  // BERT's pre-tokenizer splits at every punctuation character; word-pieces of one word merge.
  EXPECT_EQ(words(WordSplitter::Tokenizer, "industry's quasi-weighted keyphrases", &bert),
            (V{"industry", "'", "s", "quasi", "-", "weighted", "keyphrases"}));
  EXPECT_THROW(split_words(WordSplitter::Tokenizer, "x"), Error);  // no tokenizer given
}

TEST(WordSplitter, NamesRoundTripAndUnknownNamesAreListed) {
  for (auto s : {WordSplitter::Tokenizer, WordSplitter::RegexWords, WordSplitter::Whitespace})
    EXPECT_EQ(parse_word_splitter(word_splitter_name(s)), s);
  try {
    parse_word_splitter("regex");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer, regex-words or whitespace"), std::string::npos)
        << e.what();
  }
}

// The dataset's tokens were made in Python with the same regex over title + ". " + abstract.
TEST(WordSplitter, RegexWordsReproducesInspecTokens) {
  const std::string dir = testing::shared_path("data/inspec");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "Inspec not present";
  size_t docs = 0;
  for (const char* split : {"train", "validation", "test"}) {
    for (const auto& row : testing::load_jsonl(dir + "/inspec_" + split + ".jsonl")) {
      const std::string text =
          row["title"].get<std::string>() + ". " + row["abstract"].get<std::string>();
      ASSERT_EQ(regex_words(text), row["tokens"].get<V>()) << split << " id " << row["id"];
      ++docs;
    }
  }
  EXPECT_EQ(docs, 2000u);
}

}  // namespace
}  // namespace kiln::tok
