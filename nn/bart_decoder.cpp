#include "nn/bart_decoder.h"

#include "core/autograd.h"
#include "core/checkpoint.h"
#include "core/ops.h"

namespace kiln::nn {

Tensor embed_with_positions(const Embedding& tokens, const Embedding& positions,
                            const LayerNorm& norm, const BartPositions& layout, const Tensor& ids,
                            int64_t past_length, const BartDropout& drop) {
  const int64_t length = ids.size(1);
  KILN_CHECK(past_length + length <= layout.max, "a sequence of ", past_length + length,
             " tokens is longer than the model's maximum of ", layout.max, " (", layout.field, ")");
  std::vector<int64_t> rows(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) rows[i] = past_length + i + layout.offset;
  Tensor x = tokens.forward(ids);
  if (layout.embed_scale != 1.0) x = mul(x, layout.embed_scale);
  x = add(x, positions.forward(Tensor::from_ints(rows, {length})));
  return maybe_dropout(norm.forward(x), drop.hidden, drop.training, drop.gen);
}

bool skip_layer(const BartDropout& drop, double p) {
  return drop.training && drop.gen != nullptr && p > 0.0 && drop.gen->uniform() < p;
}

NamedTensors encoder_decoder_outputs(const BartStackOutput& encoder,
                                     const BartStackOutput& decoder) {
  NamedTensors out;
  out["last_hidden_state"] = decoder.last_hidden_state;
  out["encoder_last_hidden_state"] = encoder.last_hidden_state;
  for (size_t i = 0; i < encoder.hidden_states.size(); ++i)
    out["encoder_hidden_states." + std::to_string(i)] = encoder.hidden_states[i];
  for (size_t i = 0; i < decoder.hidden_states.size(); ++i)
    out["decoder_hidden_states." + std::to_string(i)] = decoder.hidden_states[i];
  return out;
}

BartDecoder::BartDecoder(int64_t vocab, int64_t d, int64_t layers, int64_t heads, int64_t ffn,
                         BartActivation act, BartPositions positions, double layerdrop)
    : layout_(std::move(positions)), layerdrop_(layerdrop) {
  add("embed_tokens", std::make_shared<Embedding>(vocab, d));
  positions_ = add("embed_positions", std::make_shared<Embedding>(layout_.max + layout_.offset, d));
  auto stack = group("layers");
  for (int64_t i = 0; i < layers; ++i)
    layers_.push_back(
        stack->add(std::to_string(i), std::make_shared<BartDecoderLayer>(d, heads, ffn, act)));
  norm_ = add("layernorm_embedding", std::make_shared<LayerNorm>(d, 1e-5));
}

BartStackOutput BartDecoder::forward(const Embedding& tokens, const Tensor& ids, const Tensor& mask,
                                     const Tensor& encoder_output, const Tensor& encoder_mask,
                                     const BartDropout& drop, bool keep_hidden,
                                     BartDecoderCache* cache) const {
  const int64_t past = cache ? cache->length : 0, rows = ids.size(0);
  KILN_CHECK(!mask.defined() || mask.shape() == Shape({rows, past + ids.size(1)}),
             "decoder_attention_mask ", mask.describe(), " must be [", rows, ", ",
             past + ids.size(1), "] (the cached and new decoder tokens)");
  KILN_CHECK(encoder_output.dim() == 3 && encoder_output.size(0) > 0 &&
                 rows % encoder_output.size(0) == 0 &&
                 encoder_output.size(2) == tokens.weight.size(1),
             "the encoder output ", encoder_output.describe(), " does not fit ", rows,
             " decoder sequences of d_model ", tokens.weight.size(1));
  KILN_CHECK(!encoder_mask.defined() ||
                 encoder_mask.shape() == Shape({encoder_output.size(0), encoder_output.size(1)}),
             "attention_mask ", encoder_mask.describe(), " does not fit the encoder output ",
             encoder_output.describe());
  if (cache) {
    cache->self_attention.resize(layers_.size());
    cache->cross_attention.resize(layers_.size());
  }
  BartStackOutput out;
  Tensor x = embed_with_positions(tokens, *positions_, *norm_, layout_, ids, past, drop);
  if (keep_hidden) out.hidden_states.push_back(x);
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (skip_layer(drop, layerdrop_)) {
      // LayerDrop skipped this layer
    } else if (checkpointing_ && cache == nullptr && grad_enabled()) {
      const std::shared_ptr<BartDecoderLayer> layer = layers_[i];
      x = checkpoint(
          [layer, drop](const std::vector<Tensor>& in) {
            return layer->forward(in[0], in[1], in[2], in[3], drop);
          },
          {x, mask, encoder_output, encoder_mask}, drop.gen);
    } else {
      x = layers_[i]->forward(x, mask, encoder_output, encoder_mask, drop,
                              cache ? &cache->self_attention[i] : nullptr,
                              cache ? &cache->cross_attention[i] : nullptr);
    }
    if (keep_hidden) out.hidden_states.push_back(x);
  }
  if (cache) cache->length += ids.size(1);
  out.last_hidden_state = x;
  return out;
}

}  // namespace kiln::nn
