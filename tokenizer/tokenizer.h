// kiln's tokenizer: loads a Hugging Face tokenizer.json (or the older vocab.txt and
// vocab.json + merges.txt layouts) and encodes text to exactly the ids, tokens, offsets and masks
// Hugging Face's tokenizers library produces, and decodes ids back to text.
//
//   auto tok = kiln::tok::Tokenizer::from_path("models/bert-base-cased");  // dir or file
//   kiln::tok::Encoding e = tok.encode("Hello world");
//   std::string text = tok.decode(e.ids);  // special tokens skipped
//
// A Tokenizer is immutable after loading except for its truncation/padding settings; copies share
// the loaded vocabulary, and encode/decode may be called from many threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/encoding.h"

namespace kiln::tok {

// One input of a batch: a text and an optional second text (a pair).
struct EncodeInput {
  std::string text;
  std::optional<std::string> pair;
};

class Tokenizer {
 public:
  // The content of a tokenizer.json. This is also how a tokenizer embedded in a model file's
  // metadata is restored (see to_json_string).
  static Tokenizer from_json_string(std::string_view json);
  // A tokenizer.json file; a vocab.txt (BERT WordPiece); a vocab.json (byte-level BPE, with
  // merges.txt beside it); or a directory holding one of those (tokenizer.json preferred).
  // tokenizer_config.json and special_tokens_map.json beside vocab files are honoured.
  static Tokenizer from_path(const std::string& path);

  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_pair(std::string_view text, std::string_view pair,
                       bool add_special_tokens = true) const;
  // Encodes on kiln's thread pool; the result does not depend on the number of threads. With
  // padding set to batch-longest, every encoding is padded to the longest one.
  std::vector<Encoding> encode_batch(const std::vector<EncodeInput>& inputs,
                                     bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                     bool add_special_tokens = true) const;

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  void set_truncation(std::optional<TruncationParams> params) { truncation_ = std::move(params); }
  void set_padding(std::optional<PaddingParams> params) { padding_ = std::move(params); }
  const std::optional<TruncationParams>& truncation() const { return truncation_; }
  const std::optional<PaddingParams>& padding() const { return padding_; }

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // Number of distinct ids (model vocabulary plus added tokens not in it).
  size_t vocab_size() const;
  // Number of special tokens the post-processor adds to a single sequence or a pair.
  size_t num_special_tokens_to_add(bool pair) const;

  // tokenizer.json text equivalent to this tokenizer (vocab-file layouts are converted the way
  // Hugging Face converts them), for embedding in a model file.
  const std::string& to_json_string() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  Encoding encode_impl(std::string_view a, const std::string_view* b, bool add_special) const;

  std::shared_ptr<const Impl> impl_;
  std::optional<TruncationParams> truncation_;
  std::optional<PaddingParams> padding_;
};

// Pads encodings as `params` says (to a fixed length, or to the longest of them).
void pad_encodings(std::vector<Encoding>& encodings, const PaddingParams& params);

}  // namespace kiln::tok
