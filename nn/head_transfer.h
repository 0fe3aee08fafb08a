// Filling a model from the weights of another model of its family, as transformers'
// from_pretrained does when the checkpoint's head differs from the model's: a bare encoder (or an
// encoder whose head was dropped) under a fresh task head. The weights are renamed by the family
// (the encoder prefix), the parameters they lack are initialised as transformers initialises new
// modules, and the tensors the model has no use for are dropped; both lists are returned, so a
// caller can report them as transformers' "newly initialized" and "not used" warnings do.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "nn/family.h"
#include "nn/model.h"

namespace kiln::nn {

struct HeadTransfer {
  std::vector<std::string> newly_initialized;  // model parameters the weights lacked, sorted
  std::vector<std::string> dropped;            // weights under their given names, sorted
};

// `model` was built from `model_config`; `weights` are named for the model `weights_config`
// describes. When a parameter is missing, the whole model is first initialised with `init`
// (Model::init_weights: transformers' _init_weights) and the weights are loaded over it, so the
// new parameters get transformers' initialisation and everything else the given values. Errors
// name `origin`: a shape mismatch, and a parameter of the weights' own model (the one
// `weights_config` describes) that the weights lack, since that is a damaged file, not a new head.
HeadTransfer load_with_fresh_head(const ModelFamily& family, Model& model,
                                  const nlohmann::json& model_config,
                                  const nlohmann::json& weights_config, const StateDict& weights,
                                  Generator& init, const std::string& origin);

}  // namespace kiln::nn
