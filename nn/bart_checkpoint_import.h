// `kiln convert`'s import of BART-style checkpoints (bart, led): what transformers does when it
// loads a bare *Model checkpoint into *ForConditionalGeneration or the reverse (adds or removes
// the base model's prefix, "model." or "led."; the bare model drops lm_head.weight and
// final_logits_bias), and tied aliases stored beside the shared embedding (older
// save_pretrained versions wrote them), accepted when they hold the same values and not stored
// again.
#pragma once

#include <string>

#include "nn/bart.h"
#include "nn/family.h"

namespace kiln::nn {

// `c` says whether the model has an LM head and ties it; `base` is the prefix without its dot.
ConvertedWeights import_bart_style_checkpoint(const nlohmann::json& config, const BartConfig& c,
                                              const std::string& base, StateDict tensors,
                                              const std::string& origin);

}  // namespace kiln::nn
