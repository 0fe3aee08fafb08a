// The interface every model family implements, so that the trainer, the inference engine and
// `kiln forward` drive any of them the same way. Inputs and outputs are named tensors whose names
// are Hugging Face's: forward arguments (input_ids, attention_mask, token_type_ids, later
// decoder_input_ids, pixel_values...) and output fields (logits, last_hidden_state,
// hidden_states.N, pooler_output...).
#pragma once

#include <map>
#include <string>

#include "core/rng.h"
#include "nn/module.h"

namespace kiln::nn {

using NamedTensors = std::map<std::string, Tensor>;

struct ForwardOptions {
  // Also return every intermediate hidden state (hidden_states.0 = embeddings output, then one per
  // layer), as Hugging Face's output_hidden_states=True does.
  bool hidden_states = false;
};

class Model : public Module {
 public:
  // Missing optional inputs take the family's defaults (e.g. token_type_ids zeros); an input the
  // model does not know, or a required one missing, is an error naming it.
  virtual NamedTensors forward(const NamedTensors& inputs,
                               const ForwardOptions& options = {}) const = 0;
  // Hugging Face's random initialisation for this family.
  virtual void init_weights(Generator& gen) = 0;
  // Generator used by dropout in training mode (not owned; null: no dropout randomness asked for).
  virtual void set_dropout_generator(Generator* gen) = 0;
  // Gradient checkpointing (core/checkpoint.h): while on, training forwards keep no activations
  // inside each layer and recompute them in backward, with bit-identical gradients. Families that
  // support it override this; the default refuses to turn it on.
  virtual void set_gradient_checkpointing(bool on);
};

// The value of `inputs[name]`, or an undefined tensor when absent.
Tensor optional_input(const NamedTensors& inputs, const std::string& name);
// Throws naming `name` when absent.
const Tensor& required_input(const NamedTensors& inputs, const std::string& name);
// Throws when `inputs` holds a name outside `known` (the error lists the known names).
void check_input_names(const NamedTensors& inputs, const std::vector<std::string>& known,
                       const std::string& family);

}  // namespace kiln::nn
