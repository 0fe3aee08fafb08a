// How raw text is cut into words for word-level tasks (tagging). A tagger labels words, so it must
// see the words its training data had: a model trained on Inspec's regex tokens and tagging text
// split some other way labels pieces it never saw ("industry" + "'" + "s"), which shows up as spans
// like "s expectations". The splitter a model's training data used is recorded in its model file
// (kiln.word_splitter, see nn/model_file.h) and `kiln tag` splits "text" input with it.
//   tokenizer    the words of the model tokenizer's pre-tokenizer (after its normalizer), e.g.
//                BERT's split on whitespace and punctuation: "industry's" -> industry ' s
//   regex-words  Python's re.findall(r"\w+(?:[-'./]\w+)*|[^\w\s]", text) with Unicode \w and \s,
//                as Inspec's `tokens` were made: "industry's", "quasi-weighted", "U.S" "." stay
//                whole; every other non-space character is a word of its own
//   whitespace   maximal runs of non-whitespace characters
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tok {

class Tokenizer;

enum class WordSplitter { Tokenizer, RegexWords, Whitespace };

// A word as byte offsets [start, end) into the text it was found in.
struct WordSpan {
  size_t start = 0, end = 0;
  bool operator==(const WordSpan&) const = default;
};

// "tokenizer", "regex-words", "whitespace"; throws kiln::Error listing them otherwise.
WordSplitter parse_word_splitter(const std::string& name);
std::string word_splitter_name(WordSplitter splitter);
// "tokenizer, regex-words or whitespace", for help texts and errors.
std::string word_splitter_names();

// The words of `text` in order. `tokenizer` is needed by WordSplitter::Tokenizer only. Text that
// is not valid UTF-8 is an error (kiln::Error naming the byte offset).
std::vector<WordSpan> split_words(WordSplitter splitter, std::string_view text,
                                  const Tokenizer* tokenizer = nullptr);

// Python's re \w and \s for str patterns: \w is a letter (L*), a number (N*) or '_'; \s is
// Unicode White_Space plus the ASCII separators U+001C..U+001F.
bool is_python_word_char(char32_t cp);
bool is_python_space(char32_t cp);

}  // namespace kiln::tok
