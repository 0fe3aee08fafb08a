#include "nn/model.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::nn {

void Model::set_gradient_checkpointing(bool on) {
  KILN_CHECK(!on, "gradient checkpointing is not supported by this model family");
}

Tensor optional_input(const NamedTensors& inputs, const std::string& name) {
  auto it = inputs.find(name);
  return it == inputs.end() ? Tensor() : it->second;
}

const Tensor& required_input(const NamedTensors& inputs, const std::string& name) {
  auto it = inputs.find(name);
  KILN_CHECK(it != inputs.end() && it->second.defined(), "missing model input '", name, "'");
  return it->second;
}

void check_input_names(const NamedTensors& inputs, const std::vector<std::string>& known,
                       const std::string& family) {
  for (const auto& [name, t] : inputs) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error("model input '" + name + "' is not an input of the " + family +
                " family (inputs: " + list + ")");
  }
}

}  // namespace kiln::nn
