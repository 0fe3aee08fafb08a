// Hugging Face's initialisation of BART-style models (BartPreTrainedModel._init_weights, which
// LED's copies): Linear and Embedding weights normal(0, init_std), biases 0, LayerNorms 1/0, the
// padding row of the shared token embedding 0, final_logits_bias 0.
#pragma once

#include "core/rng.h"
#include "nn/module.h"

namespace kiln::nn {

// Every parameter of `model`; `shared_embedding` is its token table (row `pad_token_id` zeroed,
// as nn.Embedding's padding_idx does) and `final_logits_bias` its buffer, or null.
void init_bart_style_weights(Module& model, double init_std, Generator& gen,
                             Tensor& shared_embedding, int64_t pad_token_id,
                             Tensor* final_logits_bias);

}  // namespace kiln::nn
