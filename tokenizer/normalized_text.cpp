#include "tokenizer/normalized_text.h"

namespace kiln::tok {

Offsets NormalizedText::original_range(size_t a, size_t b) const {
  if (identity()) {
    // Widen to character boundaries: byte-level BPE can cut a character in two, and Hugging Face
    // then reports the whole character for both halves.
    while (a > 0 && a < text.size() && is_continuation_byte(static_cast<unsigned char>(text[a])))
      --a;
    if (b <= a) return {base + static_cast<uint32_t>(a), base + static_cast<uint32_t>(a)};
    while (b < text.size() && is_continuation_byte(static_cast<unsigned char>(text[b]))) ++b;
    return {base + static_cast<uint32_t>(a), base + static_cast<uint32_t>(b)};
  }
  if (b <= a) {
    if (a >= orig_begin.size()) {
      const uint32_t end = orig_end.empty() ? base : orig_end.back();
      return {end, end};
    }
    return {orig_begin[a], orig_begin[a]};
  }
  return {orig_begin[a], orig_end[b - 1]};
}

void NormalizedBuilder::push(char32_t cp, uint32_t ob, uint32_t oe) {
  const size_t before = out_.text.size();
  append_utf8(out_.text, cp);
  const size_t n = out_.text.size() - before;
  out_.orig_begin.insert(out_.orig_begin.end(), n, ob);
  out_.orig_end.insert(out_.orig_end.end(), n, oe);
}

void NormalizedBuilder::push_utf8(std::string_view bytes, uint32_t ob, uint32_t oe) {
  out_.text.append(bytes);
  out_.orig_begin.insert(out_.orig_begin.end(), bytes.size(), ob);
  out_.orig_end.insert(out_.orig_end.end(), bytes.size(), oe);
}

}  // namespace kiln::tok
