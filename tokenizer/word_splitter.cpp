#include "tokenizer/word_splitter.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

// The separators regex-words allows inside a word, between two runs of word characters.
bool is_joiner(char32_t cp) {
  return cp == '-' || cp == '\'' || cp == '.' || cp == '/';
}

void check_utf8(std::string_view text) {
  const size_t bad = find_invalid_utf8(text);
  if (bad == std::string_view::npos) return;
  static const char* hex = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(text[bad]);
  throw Error(std::string("text is not valid UTF-8 (invalid byte 0x") + hex[b >> 4] + hex[b & 15] +
              " at byte offset " + std::to_string(bad) + ")");
}

// The code point at `i` without advancing.
char32_t peek(std::string_view s, size_t i) {
  return next_code_point(s, i);
}

// Advances `i` past a run of word characters.
void skip_word_chars(std::string_view s, size_t& i) {
  while (i < s.size()) {
    size_t next = i;
    if (!is_python_word_char(next_code_point(s, next))) break;
    i = next;
  }
}

// \w+(?:[-'./]\w+)*|[^\w\s]. The greedy \w+ always ends before a non-word character, so each step
// of the match is forced and a left-to-right scan finds what Python's backtracking matcher finds.
std::vector<WordSpan> split_regex_words(std::string_view s) {
  std::vector<WordSpan> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    size_t next = i;
    const char32_t cp = next_code_point(s, next);
    if (is_python_space(cp)) {
      i = next;
      continue;
    }
    if (!is_python_word_char(cp)) {
      out.push_back({start, next});  // [^\w\s]: one character
      i = next;
      continue;
    }
    skip_word_chars(s, i);
    // (?:[-'./]\w+)*: a joiner (one byte, ASCII) followed by at least one word character.
    while (i + 1 < s.size() && is_joiner(static_cast<unsigned char>(s[i])) &&
           is_python_word_char(peek(s, i + 1))) {
      ++i;
      skip_word_chars(s, i);
    }
    out.push_back({start, i});
  }
  return out;
}

std::vector<WordSpan> split_whitespace(std::string_view s) {
  std::vector<WordSpan> out;
  size_t i = 0;
  bool in_word = false;
  while (i < s.size()) {
    const size_t at = i;
    const bool space = is_python_space(next_code_point(s, i));
    if (space && in_word) out.back().end = at;
    if (!space && !in_word) out.push_back({at, s.size()});
    in_word = !space;
  }
  return out;
}

// The pre-tokenizer's words: consecutive tokens with the same word id, from the first token's
// start to the furthest end (offsets are into the original text, before normalization).
std::vector<WordSpan> split_with_tokenizer(std::string_view text, const Tokenizer& tokenizer) {
  const Encoding e = tokenizer.encode(text, false);
  std::vector<WordSpan> words;
  int32_t last = -1;
  for (size_t k = 0; k < e.size(); ++k) {
    if (e.word_ids[k] < 0) continue;
    if (e.word_ids[k] != last || words.empty())
      words.push_back({e.offsets[k].first, e.offsets[k].second});
    else
      words.back().end = std::max<size_t>(words.back().end, e.offsets[k].second);
    last = e.word_ids[k];
  }
  return words;
}

}  // namespace

WordSplitter parse_word_splitter(const std::string& name) {
  if (name == "tokenizer") return WordSplitter::Tokenizer;
  if (name == "regex-words") return WordSplitter::RegexWords;
  if (name == "whitespace") return WordSplitter::Whitespace;
  throw Error("unknown word splitter \"" + name + "\" (expected " + word_splitter_names() + ")");
}

std::string word_splitter_name(WordSplitter splitter) {
  switch (splitter) {
    case WordSplitter::Tokenizer:
      return "tokenizer";
    case WordSplitter::RegexWords:
      return "regex-words";
    case WordSplitter::Whitespace:
      return "whitespace";
  }
  return "tokenizer";
}

std::string word_splitter_names() {
  return "tokenizer, regex-words or whitespace";
}

std::vector<WordSpan> split_words(WordSplitter splitter, std::string_view text,
                                  const Tokenizer* tokenizer) {
  if (splitter == WordSplitter::Tokenizer) {
    KILN_CHECK(tokenizer, "the tokenizer word splitter needs the model's tokenizer");
    return split_with_tokenizer(text, *tokenizer);
  }
  check_utf8(text);
  return splitter == WordSplitter::RegexWords ? split_regex_words(text) : split_whitespace(text);
}

bool is_python_word_char(char32_t cp) {
  return cp == '_' || is_alphanumeric(cp);
}

bool is_python_space(char32_t cp) {
  return is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F);
}

}  // namespace kiln::tok
