// Unicode helpers shared by the tokenizer stages: UTF-8 decoding and validation, and the character
// classes Hugging Face tokenizers tests (Rust's char methods, Oniguruma's \s \p{L} \p{N}, BERT's
// punctuation). Categories come from utf8proc; ASCII is answered from a table because it is hot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::tok {

// Decodes the code point starting at s[i] and advances i. The input must be valid UTF-8 (the
// tokenizer validates once at the entry point), so no checks are made here.
inline char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    char32_t cp = ((b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    char32_t cp = ((b0 & 0x0F) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
                  (static_cast<unsigned char>(s[i + 2]) & 0x3F);
    i += 3;
    return cp;
  }
  char32_t cp = ((b0 & 0x07) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
                ((static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
                (static_cast<unsigned char>(s[i + 3]) & 0x3F);
  i += 4;
  return cp;
}

// Number of bytes of the UTF-8 sequence that starts with lead byte b.
inline size_t utf8_length(unsigned char b) {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}
inline bool is_continuation_byte(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

void append_utf8(std::string& out, char32_t cp);

// Byte index of the first invalid UTF-8 sequence in s, or npos when s is valid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as in Rust's str).
size_t find_invalid_utf8(std::string_view s);

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// General category as utf8proc numbers it (UTF8PROC_CATEGORY_*).
int category(char32_t cp);

bool is_letter(char32_t cp);       // \p{L}
bool is_number(char32_t cp);       // \p{N}
bool is_whitespace(char32_t cp);   // Rust char::is_whitespace == Unicode White_Space == onig \s
bool is_punctuation(char32_t cp);  // Unicode P* categories
bool is_bert_punctuation(char32_t cp);  // ASCII punctuation or P*, as BERT splits
bool is_other(char32_t cp);             // Cc, Cf, Cn, Co, Cs
bool is_mark_nonspacing(char32_t cp);   // Mn
bool is_alphanumeric(char32_t cp);      // letters and numbers (Rust char::is_alphanumeric)
bool is_word_char(char32_t cp);         // regex \w: letters, marks, decimal digits, Nl, Pc, joiners
bool is_cjk(char32_t cp);               // the CJK blocks BERT surrounds with spaces

// Rust char::to_lowercase: utf8proc's simple mapping plus the one unconditional multi-character
// mapping (U+0130 -> "i\u0307"). Appends the result to out.
void append_lowercase(std::string& out, char32_t cp);

}  // namespace kiln::tok
