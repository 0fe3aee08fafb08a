// What generation needs from an encoder-decoder (BART, LED, ...): run the encoder once, then the
// decoder one token per row at a time with its caches, and rearrange the rows between steps (beam
// reordering, beam expansion, dropping inputs that are done). A model family implements this
// beside nn::Model; nn/generation.* drives it without knowing the family.
#pragma once

#include <memory>
#include <vector>

#include "nn/model.h"

namespace kiln::nn {

// Everything one generate() call keeps between decoding steps for its current rows: the encoder
// output and mask of each row's input, and the decoder's self- and cross-attention caches.
class DecodingState {
 public:
  virtual ~DecodingState() = default;
  // Current number of rows (decoder sequences).
  virtual int64_t rows() const = 0;
  // Tokens decoded so far by every row (all rows advance together).
  virtual int64_t length() const = 0;
  // Keeps the rows `rows` (indices into the current rows; repeats allowed), in that order. Each
  // row remembers the input (encoder sequence) it decodes; when every kept row keeps the input
  // its position had before (beams of one input reordered among themselves), the per-input
  // state (encoder output, cross-attention keys/values) is left as it is and only the
  // self-attention caches move.
  virtual void select_rows(const std::vector<int64_t>& rows) = 0;
};

class Seq2SeqLM {
 public:
  virtual ~Seq2SeqLM() = default;
  // Runs the encoder on `inputs` (input_ids and attention_mask [B, L], plus the family's own inputs
  // such as LED's global_attention_mask), without gradients. The state starts with one row per
  // input and nothing decoded.
  virtual std::unique_ptr<DecodingState> start_decoding(const NamedTensors& inputs) const = 0;
  // Feeds the next token of every row (`tokens` [rows] integer) and returns the logits of the token
  // after it, [rows, vocab] float32, LM head and any final bias included.
  virtual Tensor decode_step(DecodingState& state, const Tensor& tokens) const = 0;
  virtual int64_t vocab_size() const = 0;
};

}  // namespace kiln::nn
