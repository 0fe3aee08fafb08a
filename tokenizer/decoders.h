// Decoders: turn a list of token strings back into text (WordPiece joins "##" pieces and cleans
// up spaces before punctuation; ByteLevel maps characters back to bytes).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace kiln::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token list in place (Hugging Face's decode_chain); the text is the concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> decoder_from_json(const Json& j, const std::string& path);

// Hugging Face's `cleanup`: removes spaces before punctuation and in common English contractions.
std::string cleanup_tokenization_spaces(std::string s);

}  // namespace kiln::tok
