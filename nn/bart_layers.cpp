#include "nn/bart_layers.h"

#include <cmath>

#include "core/ops.h"

namespace kiln::nn {

namespace {

Tensor activate(const Tensor& x, BartActivation act) {
  switch (act) {
    case BartActivation::Gelu:
      return gelu(x);
    case BartActivation::GeluTanh:
      return gelu(x, GeluApprox::Tanh);
    case BartActivation::Relu:
      return relu(x);
  }
  return x;
}

}  // namespace

// x = LayerNorm(residual + dropout(out_proj(context))). Without dropout the projection, its bias
// and the residual add run fused in the GEMM (the same bits as the separate ops).
Tensor attention_block(const Linear& out_proj, const LayerNorm& norm, const Tensor& context,
                       const Tensor& residual, const BartDropout& drop) {
  if (!drop.active())
    return norm.forward(out_proj.forward_fused(context, LinearActivation::kNone, residual));
  Tensor h = maybe_dropout(out_proj.forward(context), drop.hidden, true, drop.gen);
  return norm.forward(add(residual, h));
}

// x = LayerNorm(x + dropout(fc2(dropout(act(fc1(x)))))), transformers' order of the two dropouts
// (activation_dropout inside, dropout outside).
Tensor feed_forward_block(const Linear& fc1, const Linear& fc2, const LayerNorm& norm,
                          BartActivation act, const Tensor& x, const BartDropout& drop) {
  if (!drop.active()) {
    const Tensor u = act == BartActivation::Gelu ? fc1.forward_fused(x, LinearActivation::kGelu)
                                                 : activate(fc1.forward(x), act);
    return norm.forward(fc2.forward_fused(u, LinearActivation::kNone, x));
  }
  Tensor u = maybe_dropout(activate(fc1.forward(x), act), drop.activation, true, drop.gen);
  Tensor f = maybe_dropout(fc2.forward(u), drop.hidden, true, drop.gen);
  return norm.forward(add(x, f));
}

BartAttention::BartAttention(int64_t d, int64_t heads) : heads_(heads) {
  // transformers registers k, v, q, out in this order (named_parameters follows it).
  k_ = register_module("k_proj", std::make_shared<Linear>(d, d));
  v_ = register_module("v_proj", std::make_shared<Linear>(d, d));
  q_ = register_module("q_proj", std::make_shared<Linear>(d, d));
  out_ = register_module("out_proj", std::make_shared<Linear>(d, d));
}

Tensor BartAttention::split_heads(const Tensor& t) const {
  const int64_t b = t.size(0), l = t.size(1), d = t.size(2);
  return permute(reshape(t, {b, l, heads_, d / heads_}), {0, 2, 1, 3});
}

Tensor BartAttention::attend(const Tensor& x, const Tensor& memory, const Tensor& key_mask,
                             bool causal, const BartDropout& drop, AttentionCache* cache) const {
  const int64_t b = x.size(0), lq = x.size(1), d = x.size(2);
  Tensor k, v, q;
  if (memory.defined()) {
    // Cross-attention: the encoder output's keys and values do not change between steps.
    if (cache && cache->key.defined()) {
      k = cache->key;
      v = cache->value;
    } else {
      const std::vector<Tensor> kv = forward_shared_input(memory, {k_.get(), v_.get()});
      k = split_heads(kv[0]);
      v = split_heads(kv[1]);
    }
  } else {
    const std::vector<Tensor> kvq = forward_shared_input(x, {k_.get(), v_.get(), q_.get()});
    k = split_heads(kvq[0]);
    v = split_heads(kvq[1]);
    q = kvq[2];
    if (cache) {  // self-attention: earlier tokens, then the new ones
      cache->append(k, v);
      k = cache->key;
      v = cache->value;
    }
  }
  if (cache && memory.defined() && !cache->key.defined()) {
    cache->key = k;
    cache->value = v;
  }
  AttentionOptions opt;
  opt.key_padding_mask = key_mask;
  opt.causal = causal;
  // transformers scales q by head_dim^-0.5 before q k^T; the op scales the product (the same up
  // to rounding).
  opt.scale = 1.0 / std::sqrt(static_cast<double>(d / heads_));
  if (drop.active()) {
    opt.dropout_p = drop.attention;
    opt.dropout_generator = drop.gen;
  }
  if (!q.defined()) q = q_->forward(x);
  // Fewer key rows than query rows: each memory row serves b / rows consecutive rows of x (the
  // beams of one input). Cross-attention has no causal mask, so their queries can go together as
  // one longer query sequence against the shared keys, which are then read once, not per beam.
  const int64_t key_rows = k.size(0);
  if (key_rows != b) {
    KILN_CHECK(memory.defined() && key_rows > 0 && b % key_rows == 0, "attention over ", b,
               " rows cannot share keys of ", key_rows, " rows");
    q = reshape(q, {key_rows, b / key_rows * lq, d});
  }
  Tensor ctx = scaled_dot_product_attention(split_heads(q), k, v, opt);
  return reshape(permute(ctx, {0, 2, 1, 3}), {b, lq, d});
}

BartEncoderLayer::BartEncoderLayer(int64_t d, int64_t heads, int64_t ffn, BartActivation act)
    : act_(act) {
  self_attn_ = add("self_attn", std::make_shared<BartAttention>(d, heads));
  self_attn_norm_ = add("self_attn_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
  fc1_ = add("fc1", std::make_shared<Linear>(d, ffn));
  fc2_ = add("fc2", std::make_shared<Linear>(ffn, d));
  final_norm_ = add("final_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
}

Tensor BartEncoderLayer::forward(const Tensor& x, const Tensor& mask,
                                 const BartDropout& drop) const {
  const Tensor ctx = self_attn_->attend(x, Tensor(), mask, false, drop);
  const Tensor a = attention_block(self_attn_->out_proj(), *self_attn_norm_, ctx, x, drop);
  return feed_forward_block(*fc1_, *fc2_, *final_norm_, act_, a, drop);
}

BartDecoderLayer::BartDecoderLayer(int64_t d, int64_t heads, int64_t ffn, BartActivation act)
    : act_(act) {
  self_attn_ = add("self_attn", std::make_shared<BartAttention>(d, heads));
  self_attn_norm_ = add("self_attn_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
  encoder_attn_ = add("encoder_attn", std::make_shared<BartAttention>(d, heads));
  encoder_attn_norm_ = add("encoder_attn_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
  fc1_ = add("fc1", std::make_shared<Linear>(d, ffn));
  fc2_ = add("fc2", std::make_shared<Linear>(ffn, d));
  final_norm_ = add("final_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
}

Tensor BartDecoderLayer::forward(const Tensor& x, const Tensor& self_mask, const Tensor& memory,
                                 const Tensor& memory_mask, const BartDropout& drop,
                                 AttentionCache* self_cache, AttentionCache* cross_cache) const {
  Tensor ctx = self_attn_->attend(x, Tensor(), self_mask, true, drop, self_cache);
  const Tensor a = attention_block(self_attn_->out_proj(), *self_attn_norm_, ctx, x, drop);
  ctx = encoder_attn_->attend(a, memory, memory_mask, false, drop, cross_cache);
  const Tensor c = attention_block(encoder_attn_->out_proj(), *encoder_attn_norm_, ctx, a, drop);
  return feed_forward_block(*fc1_, *fc2_, *final_norm_, act_, c, drop);
}

}  // namespace kiln::nn
