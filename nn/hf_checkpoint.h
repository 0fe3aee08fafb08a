// Reading a Hugging Face checkpoint directory: config.json plus model.safetensors, or shards listed
// in model.safetensors.index.json. PyTorch pickles (pytorch_model.bin) are refused with advice,
// since reading them safely needs a pickle interpreter kiln does not carry.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

struct HfCheckpoint {
  std::string dir;
  nlohmann::json config;
  nlohmann::json generation_config;  // generation_config.json; null when the checkpoint has none
  StateDict tensors;
  std::map<std::string, std::string> file_sha256;  // every file read, by name
};

HfCheckpoint read_hf_checkpoint(const std::string& dir);

}  // namespace kiln::nn
