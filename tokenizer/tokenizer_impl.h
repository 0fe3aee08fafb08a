// The loaded pipeline behind a Tokenizer (internal to tokenizer/).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  std::optional<TruncationParams> truncation;  // defaults from the file
  std::optional<PaddingParams> padding;
  std::string json;  // the tokenizer.json this was built from

  // Encodes one sequence (no special tokens, no truncation) into `out` with the given type id.
  void encode_sequence(std::string_view text, int32_t type_id, Encoding& out) const;
};

// Parses a tokenizer.json document into a pipeline.
std::shared_ptr<Tokenizer::Impl> build_from_json(const Json& j, std::string source_json);

// Hugging Face's conversions of the older layouts into tokenizer.json form. `config` is
// tokenizer_config.json merged with special_tokens_map.json (may be null).
Json wordpiece_json_from_vocab_txt(const std::string& vocab_path, const Json& config);
Json bpe_json_from_vocab_and_merges(const std::string& vocab_path, const std::string& merges_path,
                                    const Json& config);

}  // namespace kiln::tok
