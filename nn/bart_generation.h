// The decoding state of BART-style decoders (BART, LED: the same decoder over different
// encoders) for nn/generation: each row's encoder output and mask, the decoder's self- and
// cross-attention caches, and the input each row decodes.
#pragma once

#include <vector>

#include "nn/bart.h"
#include "nn/seq2seq.h"

namespace kiln::nn {

// When the rows come in equal runs that decode the same input (num_beams beams per input, as
// beam search lays them out), the encoder output, its mask and the cross-attention keys/values
// are kept once per run, not once per row: each encoder row serves group() consecutive rows, and
// a step reads the cross-attention keys/values once for all beams of an input.
class BartDecodingState : public DecodingState {
 public:
  // encoder_mask may be undefined (every encoder token real).
  BartDecodingState(Tensor encoder_output, Tensor encoder_mask);
  int64_t rows() const override { return static_cast<int64_t>(row_input_.size()); }
  int64_t length() const override { return cache_.length; }
  void select_rows(const std::vector<int64_t>& rows) override;

  // [rows() / group(), L, d] and [rows() / group(), L]: encoder row r serves rows
  // r * group() .. (r + 1) * group() - 1.
  const Tensor& encoder_output() const { return encoder_output_; }
  const Tensor& encoder_mask() const { return encoder_mask_; }
  int64_t group() const {
    return encoder_output_.size(0) > 0 ? rows() / encoder_output_.size(0) : 1;
  }
  BartDecoderCache& cache() { return cache_; }

 private:
  Tensor encoder_output_, encoder_mask_;
  BartDecoderCache cache_;
  std::vector<int64_t> row_input_;  // the input each row decodes
};

}  // namespace kiln::nn
