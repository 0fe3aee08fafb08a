#include "tokenizer/encoding.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::tok {

void Encoding::reserve(size_t n) {
  ids.reserve(n);
  type_ids.reserve(n);
  tokens.reserve(n);
  offsets.reserve(n);
  special_tokens_mask.reserve(n);
  attention_mask.reserve(n);
  word_ids.reserve(n);
  sequence_ids.reserve(n);
}

void Encoding::push_back(int32_t id, std::string token, Offsets off, int32_t type_id,
                         int32_t word_id, int32_t sequence_id, bool special) {
  ids.push_back(id);
  tokens.push_back(std::move(token));
  offsets.push_back(off);
  type_ids.push_back(type_id);
  word_ids.push_back(word_id);
  sequence_ids.push_back(sequence_id);
  special_tokens_mask.push_back(special ? 1 : 0);
  attention_mask.push_back(1);
}

namespace {
template <typename T>
void move_append(std::vector<T>& dst, std::vector<T>& src) {
  dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
}
template <typename T>
void keep(std::vector<T>& v, size_t n, bool from_left) {
  if (v.size() <= n) return;
  if (from_left)
    v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(n));
  else
    v.resize(n);
}
template <typename T>
void pad_vec(std::vector<T>& v, size_t length, const T& value, bool left) {
  if (v.size() >= length) return;
  if (left)
    v.insert(v.begin(), length - v.size(), value);
  else
    v.resize(length, value);
}
}  // namespace

void Encoding::append(Encoding&& o) {
  move_append(ids, o.ids);
  move_append(type_ids, o.type_ids);
  move_append(tokens, o.tokens);
  move_append(offsets, o.offsets);
  move_append(special_tokens_mask, o.special_tokens_mask);
  move_append(attention_mask, o.attention_mask);
  move_append(word_ids, o.word_ids);
  move_append(sequence_ids, o.sequence_ids);
}

void Encoding::truncate(size_t n, bool from_left) {
  keep(ids, n, from_left);
  keep(type_ids, n, from_left);
  keep(tokens, n, from_left);
  keep(offsets, n, from_left);
  keep(special_tokens_mask, n, from_left);
  keep(attention_mask, n, from_left);
  keep(word_ids, n, from_left);
  keep(sequence_ids, n, from_left);
}

void Encoding::pad(size_t length, int32_t pad_id, int32_t pad_type_id, const std::string& pad_token,
                   bool left) {
  pad_vec(ids, length, pad_id, left);
  pad_vec(type_ids, length, pad_type_id, left);
  pad_vec(tokens, length, pad_token, left);
  pad_vec(offsets, length, Offsets{0, 0}, left);
  pad_vec(special_tokens_mask, length, uint8_t{1}, left);
  pad_vec(attention_mask, length, uint8_t{0}, left);
  pad_vec(word_ids, length, int32_t{-1}, left);
  pad_vec(sequence_ids, length, int32_t{-1}, left);
}

void truncate_encodings(Encoding& a, Encoding* b, size_t added, const TruncationParams& params) {
  KILN_CHECK(params.max_length >= added, "truncation: max_length ", params.max_length,
             " is shorter than the ", added, " special tokens the post-processor adds");
  const size_t max_len = params.max_length - added;
  const size_t total = a.size() + (b ? b->size() : 0);
  if (total <= max_len) return;
  const size_t to_remove = total - max_len;
  switch (params.strategy) {
    case TruncationStrategy::kLongestFirst: {
      if (!b) {
        a.truncate(max_len, params.from_left);
        return;
      }
      // Hugging Face's split: the shorter keeps everything if it can, else both get half.
      size_t n1 = a.size(), n2 = b->size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      if (n1 > max_len) {
        n2 = n1;
      } else {
        n2 = std::max(n1, max_len - n1);
      }
      if (n1 + n2 > max_len) {
        n1 = max_len / 2;
        n2 = n1 + max_len % 2;
      }
      if (swap) std::swap(n1, n2);
      a.truncate(n1, params.from_left);
      b->truncate(n2, params.from_left);
      return;
    }
    case TruncationStrategy::kOnlyFirst:
    case TruncationStrategy::kOnlySecond: {
      Encoding* target = params.strategy == TruncationStrategy::kOnlyFirst ? &a : b;
      KILN_CHECK(target, "truncation: strategy only_second needs a pair of sequences");
      KILN_CHECK(target->size() > to_remove, "truncation: the ",
                 params.strategy == TruncationStrategy::kOnlyFirst ? "first" : "second",
                 " sequence (", target->size(), " tokens) is too short to remove ", to_remove,
                 " tokens and respect max_length ", params.max_length);
      target->truncate(target->size() - to_remove, params.from_left);
      return;
    }
  }
}

}  // namespace kiln::tok
