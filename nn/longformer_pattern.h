// Which positions of a padded LED encoder batch may attend to which (nn/led_attention.h): the
// masks and index lists of Longformer's sliding-window + global attention, computed once per
// encoder pass and shared by every layer.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace kiln::nn {

// Who may attend to whom in one encoder pass over a padded batch, from each position's kind:
// 0 padding, 1 local, 2 global (transformers' attention_mask * (global_attention_mask + 1)).
// Built once per encode and read by every layer.
class LongformerPattern {
 public:
  // kinds: [batch * length], row-major.
  LongformerPattern(std::vector<uint8_t> kinds, int64_t batch, int64_t length);

  int64_t batch() const { return batch_; }
  int64_t length() const { return length_; }
  // The most global tokens of any input (G); 0 when none is global.
  int64_t max_globals() const { return max_globals_; }

  // For windows of `half` tokens per side, over blocks of `half` queries: U8
  // [B, 1, blocks, half, 3 half], 1 where query r of block c may not see key c*half - half + k:
  // outside the band |key - query| <= half, outside the sequence, padding, or global (global
  // keys have columns of their own, as transformers excludes them from the window).
  Tensor hidden_local_keys(int64_t half) const;
  // U8 [B, 1, blocks, half, 1]: queries whose probabilities are zeroed (padding, and the rows
  // that fill the last block).
  Tensor silent_queries(int64_t half) const;

  // I64 [B * G]: row (in the [B * length] flattening) of each input's g-th global token, in
  // position order; slots beyond an input's own count point at its first row (and are masked).
  const Tensor& global_rows() const { return global_rows_; }
  // U8 [B, 1, 1, 1, G]: 1 for the slots beyond an input's own global count.
  const Tensor& empty_global_slots() const { return empty_slots_; }
  // I64 [B * length]: for a global position, its row of [B * G]; 0 for the others.
  const Tensor& slot_of_row() const { return slot_of_row_; }
  // U8 [B, length, 1]: global positions.
  const Tensor& is_global() const { return is_global_; }
  // U8 [B, length]: non-padding positions, the keys global tokens attend to.
  const Tensor& not_padding() const { return not_padding_; }

 private:
  std::vector<uint8_t> kinds_;
  int64_t batch_, length_, max_globals_ = 0;
  Tensor global_rows_, empty_slots_, slot_of_row_, is_global_, not_padding_;
};

}  // namespace kiln::nn
