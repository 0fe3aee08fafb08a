// Which weights of a model the quantization pass may quantize, and why the others stay in float.
// Eligible by default: every 2-D Linear weight, the word embedding and every convolution (groups 1)
// but the model's first, quantized as its GEMM (nn/quantized_conv.h). Never (they stay float):
//   - layer norms and biases: a few thousand values each, so nothing is saved, and an error in a
//     norm's scale or a bias shifts every activation of the layer, not one product;
//   - position and token-type embeddings: small tables added to every token;
//   - the classifier head (classifier, lm_head, qa_outputs, ...) unless asked (include_head): its
//     few parameters decide every prediction directly, so its error is not averaged away by later
//     layers, and quantizing it saves little;
//   - a word embedding tied to the head (BART's shared embedding is also its LM head) follows the
//     head rule: float unless include_head; quantized, it is one tensor in both layers;
//   - the first convolution (DenseNet's stem conv0) unless include_head: it sees the raw pixels
//     with only 3 input channels (k = 3 x 7 x 7 = 147, a few 4-bit blocks per row), holds few
//     weights, and every later layer inherits its error, like the head's at the other end;
//   - grouped convolutions (groups > 1): kiln's quantized convolution has groups = 1.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"

namespace kiln::quant {

struct Candidate {
  std::string name;  // state-dict name ("bert.encoder.layer.0.attention.self.query.weight")
  Shape shape;
  std::string kind;  // "linear", "embedding" or "conv"
  bool eligible = false;
  std::string reason;  // why it is not eligible (empty when it is)
};

// The Linear, Embedding and Conv2d weights of `model` in registration order. `skip`: tensor-name
// substrings or globs (* ? [..]) kept in float ("--skip PATTERN" as the reason).
std::vector<Candidate> list_candidates(nn::Module& model, const std::vector<std::string>& skip,
                                       bool include_head);

// True when `name` matches one --skip item: a glob when it has * ? or [, else a substring.
bool matches_skip(const std::string& name, const std::string& pattern);

}  // namespace kiln::quant
