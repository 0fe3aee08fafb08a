// The keys and values one attention layer keeps between decoding steps. Self-attention grows by
// one token per step: the keys live in a buffer with spare capacity along the sequence (doubling
// when full), each step writes only its new token, and attention reads a view of the filled part
// (the attention op takes such strided views in place), so a step costs O(1) copying instead of
// re-concatenating the whole past. Reordering beams moves only the rows whose beam changed.
// Cross-attention keys/values are set once (key/value, no buffer).
#pragma once

#include <vector>

#include "core/tensor.h"

namespace kiln::nn {

struct AttentionCache {
  // [B, heads, length, head_dim]: what attention reads (views of the buffers for self-attention).
  // Undefined until the first step.
  Tensor key, value;

  // Appends the new keys/values [B, heads, n, head_dim]. With gradients recorded (a caller that
  // differentiates through decoding) it concatenates instead, as plain ops.
  void append(const Tensor& new_key, const Tensor& new_value);
  // Keeps rows `rows` of the batch, in that order (repeats allowed). With the same number of rows
  // only the rows that change are copied, in place; otherwise the kept rows are gathered.
  void select_rows(const std::vector<int64_t>& rows);

 private:
  Tensor key_buffer_, value_buffer_;  // [B, heads, capacity, head_dim]
  int64_t length_ = 0;
};

}  // namespace kiln::nn
