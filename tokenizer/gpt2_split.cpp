#include "tokenizer/gpt2_split.h"

namespace kiln::tok::gpt2_detail {

CharClass classify_non_ascii(char32_t cp) {
  if (is_whitespace(cp)) return CharClass::kSpace;
  if (is_letter(cp)) return CharClass::kLetter;
  if (is_number(cp)) return CharClass::kNumber;
  return CharClass::kOther;
}

}  // namespace kiln::tok::gpt2_detail
