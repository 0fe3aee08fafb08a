#include "train/rouge_tokenize.h"

#include "tokenizer/unicode.h"
#include "train/porter_stemmer.h"

namespace kiln::train {

namespace {

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Appends the lower-cased code points of valid UTF-8 `text` to `out`.
void lowercase_into(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size();) tok::append_lowercase(out, tok::next_code_point(text, i));
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer) {
  std::string lowered;
  lowered.reserve(text.size());
  if (tok::find_invalid_utf8(text) == std::string_view::npos)
    lowercase_into(text, lowered);
  else
    lowercase_into(tok::utf8_lossy(text), lowered);

  std::vector<std::string> tokens;
  std::string token;
  auto finish_token = [&] {
    if (token.empty()) return;
    tokens.push_back(use_stemmer && token.size() > 3 ? porter_stem(token) : std::move(token));
    token.clear();
  };
  // Bytes of non-ASCII characters are never token characters, so scanning bytes is exact.
  for (const char c : lowered) {
    if (is_token_char(c))
      token.push_back(c);
    else
      finish_token();
  }
  finish_token();
  return tokens;
}

}  // namespace kiln::train
