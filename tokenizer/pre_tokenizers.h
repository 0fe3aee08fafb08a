// Pre-tokenizers: cut normalized text into words, the units the model tokenizes independently
// (and the units word ids count). Built from the "pre_tokenizer" object of a tokenizer.json.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"

namespace kiln::tok {

// A word is a byte range of the normalized text. `prefix_space` marks a word that ByteLevel's
// add_prefix_space gave a leading ' ' that is not in the text (the model sees " " + text).
struct Word {
  uint32_t begin = 0, end = 0;
  bool prefix_space = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` (ranges of `text`) by their refinement. `scratch` is reusable storage.
  virtual void split(std::string_view text, std::vector<Word>& words,
                     std::vector<Word>& scratch) const = 0;
};

// How the pieces a pattern matches are kept, as Hugging Face's SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const Json& j, const std::string& path);

}  // namespace kiln::tok
