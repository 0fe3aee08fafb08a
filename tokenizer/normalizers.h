// Normalizers: the first stage of encoding. Each rewrites a NormalizedText in place, keeping the
// alignment to the original bytes. Built from the "normalizer" object of a tokenizer.json.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_fields.h"
#include "tokenizer/normalized_text.h"

namespace kiln::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedText& t) const = 0;
};

// BERT's basic cleaning as Hugging Face's BertNormalizer does it, in one pass: drop NUL, U+FFFD
// and control characters and turn whitespace into ' ' (clean_text); surround CJK ideographs with
// spaces; NFD then drop non-spacing marks (strip_accents); lower-case.
std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 bool strip_accents, bool lowercase);

// Builds the normalizer described by `j` (null gives nullptr). `path` names j in error messages.
std::unique_ptr<Normalizer> normalizer_from_json(const Json& j, const std::string& path);

}  // namespace kiln::tok
