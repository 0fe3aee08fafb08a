// The result of encoding one text or one pair: parallel arrays, one entry per token, in the shape
// Hugging Face's Encoding has (so fixtures and downstream code can compare field by field).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/normalized_text.h"

namespace kiln::tok {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<std::string> tokens;
  // Byte ranges into the original text of the token's own sequence; (0, 0) for special tokens
  // and padding.
  std::vector<Offsets> offsets;
  std::vector<uint8_t> special_tokens_mask;
  std::vector<uint8_t> attention_mask;
  std::vector<int32_t> word_ids;      // index of the pre-tokenized word, -1 for none
  std::vector<int32_t> sequence_ids;  // 0 or 1 for tokens of the first/second text, -1 otherwise

  size_t size() const { return ids.size(); }
  void reserve(size_t n);
  void push_back(int32_t id, std::string token, Offsets off, int32_t type_id, int32_t word_id,
                 int32_t sequence_id, bool special);
  void append(Encoding&& other);
  // Keeps the first (direction right) or last (direction left) `n` tokens.
  void truncate(size_t n, bool from_left);
  void pad(size_t length, int32_t pad_id, int32_t pad_type_id, const std::string& pad_token,
           bool pad_left);
};

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };

struct TruncationParams {
  size_t max_length = 512;
  TruncationStrategy strategy = TruncationStrategy::kLongestFirst;
  bool from_left = false;  // direction "Left": drop tokens at the start
};

struct PaddingParams {
  std::optional<size_t> fixed_length;  // pad to this length; nullopt: to the longest in the batch
  bool pad_left = false;
  size_t pad_to_multiple_of = 0;
  int32_t pad_id = 0;
  int32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

// Hugging Face's truncation of a sequence (and optional pair) so that, with `added` special tokens,
// they fit params.max_length. Throws when the strategy cannot reach it (e.g. only_second with a
// second sequence that is too short).
void truncate_encodings(Encoding& a, Encoding* b, size_t added, const TruncationParams& params);

}  // namespace kiln::tok
