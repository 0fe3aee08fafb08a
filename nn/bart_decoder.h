// BART's decoder stack as one module, for the models that share it (LED's decoder is BART's):
// token embedding (the model's shared one) + learned positions, layernorm_embedding, then the
// post-LayerNorm decoder layers of nn/bart_layers.h, with the KV cache of incremental decoding.
// What differs between models is only where positions start in the table and the embedding
// scale (BartPositions).
#pragma once

#include <string>
#include <vector>

#include "nn/bart_layers.h"
#include "nn/layers.h"
#include "nn/model.h"

namespace kiln::nn {

struct BartStackOutput {
  Tensor last_hidden_state;           // [B, L, d_model]
  std::vector<Tensor> hidden_states;  // embedding output (after layernorm_embedding), each layer
};

// What incremental decoding keeps between steps: per decoder layer, the self-attention keys and
// values of every token decoded so far and the cross-attention keys and values of the encoder
// output (computed at the first step), plus the number of tokens decoded so far, which is the
// position of the next one.
struct BartDecoderCache {
  std::vector<AttentionCache> self_attention, cross_attention;
  int64_t length = 0;
};

// How a stack reads its position table: position p is row p + offset (BART: 2, LED: 0), at most
// `max` positions (the config field `field` says so), tokens scaled by `embed_scale`.
struct BartPositions {
  int64_t max = 0, offset = 0;
  double embed_scale = 1.0;
  std::string field;  // "max_position_embeddings", "max_decoder_position_embeddings", ...
};

// tokens(ids) * embed_scale + positions(past .. past + L - 1), LayerNorm, dropout (drop.hidden).
// Shared by BART-style encoders and decoders.
Tensor embed_with_positions(const Embedding& tokens, const Embedding& positions,
                            const LayerNorm& norm, const BartPositions& layout, const Tensor& ids,
                            int64_t past_length, const BartDropout& drop);

// transformers' layerdrop: in training (with a generator), a layer is skipped with probability p.
bool skip_layer(const BartDropout& drop, double p);

// Hugging Face's names for what an encoder-decoder pass returns besides logits:
// last_hidden_state (the decoder's), encoder_last_hidden_state, and the hidden states kept, as
// encoder_hidden_states.N and decoder_hidden_states.N.
NamedTensors encoder_decoder_outputs(const BartStackOutput& encoder,
                                     const BartStackOutput& decoder);

// The modules under a model's "decoder.": embed_tokens (an alias the model ties to its shared
// embedding), embed_positions, layers.N, layernorm_embedding.
class BartDecoder : public Group {
 public:
  BartDecoder(int64_t vocab, int64_t d_model, int64_t layers, int64_t heads, int64_t ffn_dim,
              BartActivation act, BartPositions positions, double layerdrop);
  // ids [B, T]; mask [B, past + T] or undefined; encoder_output [B, L, d] with its mask [B, L]
  // (may be undefined). The encoder output may also have B / g rows, each serving g consecutive
  // decoder rows (the g beams of one input share its cross-attention keys and values). With a
  // cache, ids are the tokens after the cache->length already decoded ones and the cache is
  // extended. `tokens` is the model's shared embedding.
  BartStackOutput forward(const Embedding& tokens, const Tensor& ids, const Tensor& mask,
                          const Tensor& encoder_output, const Tensor& encoder_mask,
                          const BartDropout& drop, bool keep_hidden_states,
                          BartDecoderCache* cache) const;
  // Each layer recomputed in backward (core/checkpoint.h) when training without a cache.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }

 private:
  bool checkpointing_ = false;
  BartPositions layout_;
  double layerdrop_;
  std::shared_ptr<Embedding> positions_;
  std::shared_ptr<LayerNorm> norm_;
  std::vector<std::shared_ptr<BartDecoderLayer>> layers_;
};

}  // namespace kiln::nn
