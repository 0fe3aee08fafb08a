#include "nn/bart_init.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/layers.h"

namespace kiln::nn {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_bart_style_weights(Module& model, double init_std, Generator& gen,
                             Tensor& shared_embedding, int64_t pad_token_id,
                             Tensor* final_logits_bias) {
  NoGradGuard ng;
  for (auto& [name, t] : model.named_parameters()) {
    const bool is_norm = name.find("layer_norm") != std::string::npos ||
                         name.find("layernorm_embedding") != std::string::npos;
    if (is_norm)
      fill_(*t, ends_with(name, "weight") ? 1.0 : 0.0);
    else if (ends_with(name, "bias"))
      fill_(*t, 0.0);
    else
      init_normal_(*t, init_std, gen);
  }
  // The position tables have no padding row.
  fill_(select(shared_embedding, 0, pad_token_id), 0.0);
  if (final_logits_bias) fill_(*final_logits_bias, 0.0);
}

}  // namespace kiln::nn
