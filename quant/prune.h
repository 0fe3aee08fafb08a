// Structured pruning of transformer feed-forward blocks (`kiln prune`): each block
// act(x W_up^T + b_up) W_down^T + b_down loses whole neurons, the rows of W_up and b_up and the
// matching columns of W_down, so the model that comes out is physically smaller (the config's
// width field shrinks: intermediate_size, hidden_dim, encoder_ffn_dim, decoder_ffn_dim) and runs
// on the same engine with fewer FLOPs, unlike unstructured zeros that dense kernels still
// multiply. A pruned neuron's output is removed exactly: the pruned model computes what the
// original computes with those neurons' W_down columns set to zero (tests/quant/prune_test).
//
// Which neurons go: per block, those with the least importance, the magnitude of everything the
// neuron connects, ||(W_up[i, :], b_up[i])||_2 * ||W_down[:, i]||_2 (the scale of its input
// pre-activation times the scale of what it writes back). Magnitude needs no data; it is the
// usual starting point before fine-tuning to recover accuracy (`kiln train --model` on the
// pruned file), which structured pruning at any real rate needs. Every block keeps the same
// number of neurons (the width is one config field), the kept ones in their original order.
// The blocks come from the model family (nn::ModelFamily::feed_forward_blocks): BERT, RoBERTa and
// DistilBERT encoders, BART encoders and decoders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/family.h"
#include "nn/model_file.h"

namespace kiln::quant {

// The model file's record of its prunes: a JSON array, one entry per `kiln prune`.
inline constexpr const char* kPruningKey = "kiln.pruning";

struct FeedForwardPrune {
  std::string block;           // the up projection's weight name
  int64_t before = 0;          // neurons
  std::vector<int64_t> kept;   // indices of the kept neurons, ascending
  double importance_kept = 0;  // share of the block's summed importance the kept neurons hold
};

// ||(up_w[i, :], up_b[i])||_2 * ||down_w[:, i]||_2 for each neuron i (any float dtype; f64 sums).
std::vector<double> magnitude_importance(const Tensor& up_w, const Tensor& up_b,
                                         const Tensor& down_w);

// Narrows every feed-forward block of `mf` to max(1, round(keep * F)) neurons, F the width its
// config field names, updating the tensors and the config fields, and appends the settings to
// mf.extra_metadata[kPruningKey]. Errors (kiln::Error naming `origin`, the tensor or field): a
// keep outside (0, 1], a quantized file, a family with no feed-forward blocks, a block tensor
// missing or of the wrong shape or not floating point, a width field that disagrees with the
// tensors.
std::vector<FeedForwardPrune> prune_feed_forward(nn::ModelFile& mf, double keep,
                                                 const std::string& origin);

}  // namespace kiln::quant
