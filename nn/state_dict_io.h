// Tensors <-> safetensors files. Loading is zero-copy where the file's data is aligned for its
// dtype (the tensors then keep the mapping alive); writing is atomic (temp file + rename).
#pragma once

#include <map>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

// Every tensor of the file whose dtype kiln supports; an unsupported dtype is an error naming the
// tensor and the file.
StateDict load_safetensors(const std::string& path,
                           std::map<std::string, std::string>* metadata = nullptr);

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln::nn
