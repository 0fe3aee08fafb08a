#include "nn/led_attention.h"

#include <cmath>
#include <limits>

#include "core/ops.h"

namespace kiln::nn {

namespace {

// Scores that must get zero probability. Finite, so that a row with nothing visible (padding,
// whose probabilities are zeroed afterwards) stays free of NaN, as transformers' finfo.min does.
constexpr double kHidden = std::numeric_limits<float>::lowest();

// [B, H, L, dh] -> [B, H, blocks * half, dh], zero rows appended to fill the last block.
Tensor pad_to_blocks(const Tensor& t, int64_t blocks, int64_t half) {
  const int64_t missing = blocks * half - t.size(2);
  if (missing == 0) return t;
  return concat({t, Tensor::zeros({t.size(0), t.size(1), missing, t.size(3)}, t.dtype())}, 2);
}

// [B, H, blocks, half, dh] -> [B, H, blocks, 3 half, dh]: each block's previous block, itself and
// its next block, the keys (or values) its queries can reach. The first and last blocks repeat a
// neighbour in place of the missing one; hidden_local_keys() hides those columns.
Tensor with_neighbours(const Tensor& blocks) {
  const int64_t n = blocks.size(2);
  std::vector<int64_t> previous(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) {
    previous[c] = std::max<int64_t>(c - 1, 0);
    next[c] = std::min<int64_t>(c + 1, n - 1);
  }
  return concat({index_select(blocks, 2, Tensor::from_ints(previous, {n})), blocks,
                 index_select(blocks, 2, Tensor::from_ints(next, {n}))},
                3);
}

}  // namespace

LongformerSelfAttention::LongformerSelfAttention(int64_t d, int64_t heads, int64_t window)
    : heads_(heads), window_(window) {
  KILN_CHECK(window > 0 && window % 2 == 0, "attention_window ", window,
             " must be even and positive");
  // transformers' registration order (named_parameters follows it).
  query_ = register_module("query", std::make_shared<Linear>(d, d));
  key_ = register_module("key", std::make_shared<Linear>(d, d));
  value_ = register_module("value", std::make_shared<Linear>(d, d));
  query_global_ = register_module("query_global", std::make_shared<Linear>(d, d));
  key_global_ = register_module("key_global", std::make_shared<Linear>(d, d));
  value_global_ = register_module("value_global", std::make_shared<Linear>(d, d));
}

Tensor LongformerSelfAttention::split_heads(const Tensor& t) const {
  const int64_t b = t.size(0), l = t.size(1), d = t.size(2);
  return permute(reshape(t, {b, l, heads_, d / heads_}), {0, 2, 1, 3});
}

Tensor LongformerSelfAttention::merge_heads(const Tensor& t) const {
  const int64_t b = t.size(0), l = t.size(2);
  return reshape(permute(t, {0, 2, 1, 3}), {b, l, heads_ * t.size(3)});
}

Tensor LongformerSelfAttention::local_context(const Tensor& x, const LongformerPattern& pattern,
                                              const BartDropout& drop) const {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2), dh = d / heads_;
  const int64_t half = window_ / 2, blocks = (l + half - 1) / half, globals = pattern.max_globals();
  const Tensor k = key_->forward(x), v = value_->forward(x);
  const Tensor q = split_heads(mul(query_->forward(x), 1.0 / std::sqrt(static_cast<double>(dh))));
  auto to_blocks = [&](const Tensor& t) {  // [B, H, L, dh] -> [B, H, blocks, half, dh]
    return reshape(pad_to_blocks(t, blocks, half), {b, heads_, blocks, half, dh});
  };
  const Tensor near_values = with_neighbours(to_blocks(split_heads(v)));
  Tensor scores = matmul(to_blocks(q), transpose(with_neighbours(to_blocks(split_heads(k))), 3, 4));
  scores = masked_fill(scores, pattern.hidden_local_keys(half), kHidden);

  // Every token also sees each global token, through the ordinary key and value projections;
  // those columns come first, as in transformers.
  Tensor global_values;
  if (globals > 0) {
    auto of_globals = [&](const Tensor& t) {  // [B, L, d] -> [B, H, G, dh]
      return split_heads(
          reshape(index_select(reshape(t, {b * l, d}), 0, pattern.global_rows()), {b, globals, d}));
    };
    global_values = of_globals(v);
    Tensor to_global = matmul(q, transpose(of_globals(k), 2, 3));  // [B, H, L, G]
    to_global = reshape(pad_to_blocks(to_global, blocks, half), {b, heads_, blocks, half, globals});
    to_global = masked_fill(to_global, pattern.empty_global_slots(), kHidden);
    scores = concat({to_global, scores}, 4);
  }
  Tensor probs = masked_fill(softmax(scores, 4), pattern.silent_queries(half), 0.0);
  if (drop.active()) probs = maybe_dropout(probs, drop.attention, true, drop.gen);

  Tensor context = matmul(slice(probs, 4, globals, globals + 3 * half), near_values);
  context = reshape(context, {b, heads_, blocks * half, dh});
  if (globals > 0) {
    const Tensor to_global =
        reshape(slice(probs, 4, 0, globals), {b, heads_, blocks * half, globals});
    context = add(context, matmul(to_global, global_values));
  }
  return merge_heads(slice(context, 2, 0, l));
}

Tensor LongformerSelfAttention::global_context(const Tensor& x, const LongformerPattern& pattern,
                                               const BartDropout& drop) const {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2), globals = pattern.max_globals();
  const Tensor xg =
      reshape(index_select(reshape(x, {b * l, d}), 0, pattern.global_rows()), {b, globals, d});
  AttentionOptions opt;
  opt.key_padding_mask = pattern.not_padding();
  opt.scale = 1.0 / std::sqrt(static_cast<double>(d / heads_));
  if (drop.active()) {
    opt.dropout_p = drop.attention;
    opt.dropout_generator = drop.gen;
  }
  const Tensor context = scaled_dot_product_attention(split_heads(query_global_->forward(xg)),
                                                      split_heads(key_global_->forward(x)),
                                                      split_heads(value_global_->forward(x)), opt);
  return reshape(merge_heads(context), {b * globals, d});
}

Tensor LongformerSelfAttention::forward(const Tensor& x, const LongformerPattern& pattern,
                                        const BartDropout& drop) const {
  KILN_CHECK(x.dim() == 3 && x.size(0) == pattern.batch() && x.size(1) == pattern.length(),
             "Longformer attention: hidden states ", x.describe(), " do not fit the pattern of ",
             pattern.batch(), " x ", pattern.length());
  const Tensor local = local_context(x, pattern, drop);
  if (pattern.max_globals() == 0) return local;
  // A global token's context is its global attention over the whole sequence, replacing what
  // the window gave it.
  const Tensor global =
      reshape(index_select(global_context(x, pattern, drop), 0, pattern.slot_of_row()), x.shape());
  return where(pattern.is_global(), global, local);
}

LedEncoderLayer::LedEncoderLayer(int64_t d, int64_t heads, int64_t ffn, BartActivation act,
                                 int64_t window)
    : act_(act) {
  auto self_attn = group("self_attn");
  attention_ = self_attn->add("longformer_self_attn",
                              std::make_shared<LongformerSelfAttention>(d, heads, window));
  output_ = self_attn->add("output", std::make_shared<Linear>(d, d));
  self_attn_norm_ = add("self_attn_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
  fc1_ = add("fc1", std::make_shared<Linear>(d, ffn));
  fc2_ = add("fc2", std::make_shared<Linear>(ffn, d));
  final_norm_ = add("final_layer_norm", std::make_shared<LayerNorm>(d, 1e-5));
}

Tensor LedEncoderLayer::forward(const Tensor& x, const LongformerPattern& pattern,
                                const BartDropout& drop) const {
  const Tensor context = attention_->forward(x, pattern, drop);
  const Tensor a = attention_block(*output_, *self_attn_norm_, context, x, drop);
  return feed_forward_block(*fc1_, *fc2_, *final_norm_, act_, a, drop);
}

}  // namespace kiln::nn
