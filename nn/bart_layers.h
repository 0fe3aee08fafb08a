// The layers of BART's encoder and decoder, with Hugging Face's names (self_attn, encoder_attn,
// q_proj/k_proj/v_proj/out_proj, fc1, fc2 and their layer norms). Post-LayerNorm: each block is
// x = LayerNorm(x + dropout(block(x))).
#pragma once

#include <memory>

#include "core/rng.h"
#include "nn/attention_cache.h"
#include "nn/layers.h"
#include "nn/module.h"

namespace kiln::nn {

enum class BartActivation { Gelu, GeluTanh, Relu };  // gelu; gelu_new / gelu_pytorch_tanh; relu

// Training-time randomness of one layer: dropout probabilities and the generator (null: none).
struct BartDropout {
  bool training = false;
  Generator* gen = nullptr;
  double hidden = 0.0, attention = 0.0, activation = 0.0;
  bool active() const { return training && gen != nullptr; }
};

// The two post-LayerNorm blocks of every BART-style layer (LED's encoder layers use them around
// their own attention). x = LayerNorm(residual + dropout(out_proj(context))):
Tensor attention_block(const Linear& out_proj, const LayerNorm& norm, const Tensor& context,
                       const Tensor& residual, const BartDropout& drop);
// x = LayerNorm(x + dropout(fc2(dropout(act(fc1(x)))))):
Tensor feed_forward_block(const Linear& fc1, const Linear& fc2, const LayerNorm& norm,
                          BartActivation act, const Tensor& x, const BartDropout& drop);

// Multi-head attention with biased q/k/v/out projections; q is scaled by head_dim^-0.5.
class BartAttention : public Module {
 public:
  BartAttention(int64_t d_model, int64_t heads);
  // x [B, Lq, d] are the queries. Self-attention: memory undefined, keys/values from x; with a
  // cache, x holds only the new tokens, whose keys/values are appended to the cached ones.
  // Cross-attention: memory [B, Lk, d] is the encoder output; with a cache its keys/values are
  // computed at the first call and reused after (memory is then not read). key_mask [B, Lk]
  // (non-zero = attend; may be undefined) covers every key, cached ones included; causal masks
  // key j for query i when j > i + Lk - Lq (the cache-aware convention of the attention op).
  // Returns the heads' context [B, Lq, d] before out_proj, which the layers apply themselves so
  // that it can be fused with the residual add.
  Tensor attend(const Tensor& x, const Tensor& memory, const Tensor& key_mask, bool causal,
                const BartDropout& drop, AttentionCache* cache = nullptr) const;
  const Linear& out_proj() const { return *out_; }

 private:
  Tensor split_heads(const Tensor& t) const;  // [B, L, d] -> [B, H, L, dh]
  int64_t heads_;
  std::shared_ptr<Linear> k_, v_, q_, out_;
};

class BartEncoderLayer : public Group {
 public:
  BartEncoderLayer(int64_t d_model, int64_t heads, int64_t ffn_dim, BartActivation act);
  Tensor forward(const Tensor& x, const Tensor& mask, const BartDropout& drop) const;

 private:
  BartActivation act_;
  std::shared_ptr<BartAttention> self_attn_;
  std::shared_ptr<LayerNorm> self_attn_norm_, final_norm_;
  std::shared_ptr<Linear> fc1_, fc2_;
};

class BartDecoderLayer : public Group {
 public:
  BartDecoderLayer(int64_t d_model, int64_t heads, int64_t ffn_dim, BartActivation act);
  // x [B, T, d] decoder states; self_mask [B, past + T] or undefined; memory [B, L, d] the
  // encoder output with memory_mask [B, L]. The caches (both or neither) serve incremental
  // decoding.
  Tensor forward(const Tensor& x, const Tensor& self_mask, const Tensor& memory,
                 const Tensor& memory_mask, const BartDropout& drop,
                 AttentionCache* self_cache = nullptr, AttentionCache* cross_cache = nullptr) const;

 private:
  BartActivation act_;
  std::shared_ptr<BartAttention> self_attn_, encoder_attn_;
  std::shared_ptr<LayerNorm> self_attn_norm_, encoder_attn_norm_, final_norm_;
  std::shared_ptr<Linear> fc1_, fc2_;
};

}  // namespace kiln::nn
