// Tokenization models: turn one pre-tokenized word into vocabulary ids. WordPiece (BERT) and BPE
// (GPT-2 / RoBERTa / BART byte-level, and classic character BPE) share the Vocab below.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/flat_map.h"
#include "tokenizer/json_fields.h"

namespace kiln::tok {

// A token produced by a model: its id and the byte range of the word it covers.
struct ModelToken {
  int32_t id;
  uint32_t begin, end;
};

// id <-> token string. Ids may have gaps (a missing id has no token).
class Vocab {
 public:
  Vocab() = default;
  Vocab(const Vocab&) = delete;  // the map's keys point into tokens_
  Vocab& operator=(const Vocab&) = delete;
  // `entries` may come in any order; duplicate ids are an error naming `what`.
  void build(std::vector<std::pair<std::string, int32_t>> entries, const std::string& what);
  const int32_t* find(std::string_view token) const { return map_.find(token); }
  // nullptr when the id is out of range or unused.
  const std::string* token(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < tokens_.size() && present_[id] ? &tokens_[id]
                                                                               : nullptr;
  }
  size_t size() const { return map_.size(); }
  size_t id_bound() const { return tokens_.size(); }
  size_t max_token_bytes() const { return max_bytes_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  StringIdMap map_;
  size_t max_bytes_ = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `word` (raw normalized bytes; for byte-level BPE, the bytes before
  // their byte-level spelling) to `out`, with ranges relative to the word.
  virtual void tokenize(std::string_view word, std::vector<ModelToken>& out) const = 0;
  virtual const Vocab& vocab() const = 0;
  // Name of the model type ("WordPiece", "BPE").
  virtual std::string type() const = 0;
};

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

std::unique_ptr<Model> make_wordpiece(std::vector<std::pair<std::string, int32_t>> vocab,
                                      const WordPieceOptions& options);

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix, end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  // Words arrive as raw bytes and each byte starts as its byte-level character (GPT-2 style).
  bool byte_level = false;
};

// `merges` are token pairs in rank order.
std::unique_ptr<Model> make_bpe(std::vector<std::pair<std::string, int32_t>> vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                const BpeOptions& options);

// Builds the model described by `j`. `byte_level` tells BPE that a ByteLevel pre-tokenizer feeds
// it (see BpeOptions::byte_level).
std::unique_ptr<Model> model_from_json(const Json& j, const std::string& path, bool byte_level);

}  // namespace kiln::tok
