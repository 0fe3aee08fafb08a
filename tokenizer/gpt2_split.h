// The GPT-2 / RoBERTa / BART pre-tokenization pattern, written out by hand over Unicode
// categories instead of run through a regex engine:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// The pattern matches every character, so the pieces tile the input.
#pragma once

#include <cstddef>
#include <string_view>

namespace kiln::tok {

// The exact pattern string, so a tokenizer.json "Split" with this regex can use the same code.
inline constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Calls emit(begin, end) for each piece of s (byte offsets), left to right.
template <typename Emit>
void gpt2_split(std::string_view s, Emit&& emit);

}  // namespace kiln::tok

#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace gpt2_detail {

enum class CharClass : unsigned char { kLetter, kNumber, kSpace, kOther };

CharClass classify_non_ascii(char32_t cp);

inline CharClass classify(std::string_view s, size_t i, size_t* next) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    *next = i + 1;
    if ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') return CharClass::kLetter;
    if (b >= '0' && b <= '9') return CharClass::kNumber;
    if (b == ' ' || (b >= 0x09 && b <= 0x0D)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  size_t j = i;
  const char32_t cp = next_code_point(s, j);
  *next = j;
  return classify_non_ascii(cp);
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) starting at s[i] == '\'', or 0.
inline size_t contraction_length(std::string_view s, size_t i) {
  if (i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char b = s[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace gpt2_detail

template <typename Emit>
void gpt2_split(std::string_view s, Emit&& emit) {
  using gpt2_detail::CharClass;
  using gpt2_detail::classify;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] == '\'') {
      if (const size_t len = gpt2_detail::contraction_length(s, i)) {
        emit(i, i + len);
        i += len;
        continue;
      }
    }
    size_t next;
    CharClass cls = classify(s, i, &next);
    size_t run_start = i;
    if (s[i] == ' ' && next < n) {
      // " ?X+": a single space binds to a following letter, number or symbol run.
      size_t after;
      const CharClass following = classify(s, next, &after);
      if (following != CharClass::kSpace) {
        cls = following;
        run_start = next;
        next = after;
      }
    }
    if (cls != CharClass::kSpace) {
      size_t end = next;
      while (end < n) {
        size_t after;
        if (classify(s, end, &after) != cls) break;
        end = after;
      }
      emit(i, end);
      i = end;
      continue;
    }
    (void)run_start;
    // Whitespace: "\s+(?!\S)" keeps the last space for the next word unless the run ends the
    // text; a lone whitespace character before a non-space falls to "\s+".
    size_t end = next, last_start = i;
    while (end < n) {
      size_t after;
      if (classify(s, end, &after) != CharClass::kSpace) break;
      last_start = end;
      end = after;
    }
    if (end < n && last_start > i) end = last_start;
    emit(i, end);
    i = end;
  }
}

}  // namespace kiln::tok
