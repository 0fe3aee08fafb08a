// `kiln forward` as a library call: runs the model of a kiln model file (any registered family)
// on the named input tensors of a safetensors file and writes its named outputs to another,
// atomically. Names are Hugging Face's: inputs are forward arguments (input_ids, attention_mask,
// token_type_ids, ...), outputs are output fields (logits, last_hidden_state, pooler_output,
// hidden_states.N).
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

struct ForwardFileOptions {
  std::vector<std::string> outputs;  // empty: every output, hidden states included
  // Training-mode layers (e.g. batch statistics) without dropout: no dropout generator is given.
  bool train_mode = false;
  bool verify = true;  // check the model file's kiln.data_sha256 (--no-verify: false)
};

// Errors name the input file (bad or unknown inputs) or list the model's outputs (unknown name).
void forward_file(const std::string& model_path, const std::string& inputs_path,
                  const std::string& outputs_path, const ForwardFileOptions& options);

}  // namespace kiln::cli
