// LED's encoder layer: Longformer self-attention (transformers' LEDEncoderSelfAttention, copied
// there from LongformerSelfAttention) inside BART's post-LayerNorm blocks.
//
// Every token attends to the tokens within window / 2 positions on either side (local
// attention), and to every global token; a global token (global_attention_mask = 1) attends to
// every token with its own query_global / key_global / value_global projections. Padding attends
// to nothing (its context is zero) and nothing attends to it. The cost is O(length x (window +
// globals)), never O(length^2): the sequence is cut into blocks of window / 2 tokens, and each
// block's queries meet the keys of the block itself and its two neighbours, one batched matmul.
#pragma once

#include <memory>

#include "nn/bart_layers.h"
#include "nn/layers.h"
#include "nn/longformer_pattern.h"
#include "nn/module.h"

namespace kiln::nn {

// transformers' longformer_self_attn: query/key/value for the sliding window (and for what the
// other tokens see of a global token), query_global/key_global/value_global for what global
// tokens see. Queries are scaled by head_dim^-0.5.
class LongformerSelfAttention : public Module {
 public:
  LongformerSelfAttention(int64_t d_model, int64_t heads, int64_t window);
  // x [B, L, d] with L = pattern.length(); returns the heads' context [B, L, d] before the
  // output projection.
  Tensor forward(const Tensor& x, const LongformerPattern& pattern, const BartDropout& drop) const;
  int64_t window() const { return window_; }

 private:
  Tensor split_heads(const Tensor& t) const;  // [B, L, d] -> [B, H, L, dh]
  Tensor merge_heads(const Tensor& t) const;  // [B, H, L, dh] -> [B, L, d]
  // Context of every position from its window and the global tokens, [B, L, d].
  Tensor local_context(const Tensor& x, const LongformerPattern& pattern,
                       const BartDropout& drop) const;
  // Context of each input's global tokens over the whole sequence, [B * G, d].
  Tensor global_context(const Tensor& x, const LongformerPattern& pattern,
                        const BartDropout& drop) const;

  int64_t heads_, window_;
  std::shared_ptr<Linear> query_, key_, value_, query_global_, key_global_, value_global_;
};

class LedEncoderLayer : public Group {
 public:
  LedEncoderLayer(int64_t d_model, int64_t heads, int64_t ffn_dim, BartActivation act,
                  int64_t window);
  Tensor forward(const Tensor& x, const LongformerPattern& pattern, const BartDropout& drop) const;
  const LongformerSelfAttention& attention() const { return *attention_; }

 private:
  BartActivation act_;
  std::shared_ptr<LongformerSelfAttention> attention_;
  std::shared_ptr<Linear> output_, fc1_, fc2_;
  std::shared_ptr<LayerNorm> self_attn_norm_, final_norm_;
};

}  // namespace kiln::nn
