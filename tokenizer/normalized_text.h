// Text after normalization, with a map back to the bytes of the original input so that token
// offsets can always be reported against what the user passed in. Like Hugging Face's
// NormalizedString, every byte of a normalized character maps to the whole original character it
// came from; characters inserted by a normalizer (a decomposed accent, the spaces around a CJK
// ideograph) share the alignment of the character that produced them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::tok {

using Offsets = std::pair<uint32_t, uint32_t>;  // [begin, end) byte range in the original input

struct NormalizedText {
  std::string text;
  // Per byte of `text`: the original byte range of the character it came from. Empty while the
  // text is still identical to its original slice, which then starts at `base`.
  std::vector<uint32_t> orig_begin, orig_end;
  uint32_t base = 0;

  bool identity() const { return orig_begin.empty(); }

  static NormalizedText from_original(std::string_view slice, uint32_t base) {
    NormalizedText t;
    t.text.assign(slice);
    t.base = base;
    return t;
  }

  // Original byte range covered by normalized bytes [a, b). Boundaries that fall inside a
  // multi-byte original character widen to the whole character (a byte-level token may hold only
  // part of a character). An empty range maps to an empty range at the original position.
  Offsets original_range(size_t a, size_t b) const;
};

// Builds a NormalizedText character by character; normalizers use it to rewrite text while carrying
// the alignment of each source character to the characters they emit for it.
class NormalizedBuilder {
 public:
  explicit NormalizedBuilder(size_t reserve_bytes) {
    out_.text.reserve(reserve_bytes);
    out_.orig_begin.reserve(reserve_bytes);
    out_.orig_end.reserve(reserve_bytes);
  }
  void push(char32_t cp, uint32_t ob, uint32_t oe);
  void push_ascii(char c, uint32_t ob, uint32_t oe) {
    out_.text.push_back(c);
    out_.orig_begin.push_back(ob);
    out_.orig_end.push_back(oe);
  }
  void push_utf8(std::string_view bytes, uint32_t ob, uint32_t oe);
  NormalizedText finish() { return std::move(out_); }

 private:
  NormalizedText out_;
};

// Calls fn(cp, byte_index, byte_length, orig_begin, orig_end) for each character of t.
template <typename Fn>
void for_each_aligned_char(const NormalizedText& t, Fn&& fn);

}  // namespace kiln::tok

#include "tokenizer/unicode.h"

namespace kiln::tok {
template <typename Fn>
void for_each_aligned_char(const NormalizedText& t, Fn&& fn) {
  const std::string_view s = t.text;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const char32_t cp = next_code_point(s, i);
    if (t.identity()) {
      fn(cp, start, i - start, static_cast<uint32_t>(t.base + start),
         static_cast<uint32_t>(t.base + i));
    } else {
      fn(cp, start, i - start, t.orig_begin[start], t.orig_end[start]);
    }
  }
}
}  // namespace kiln::tok
