// Tensors <-> safetensors files. Loading is zero-copy where the file's data is aligned for its
// dtype (the tensors then keep the mapping alive); writing is atomic (temp file + rename).
#pragma once

#include <map>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

// The metadata key under which save_safetensors records the SHA-256 (hex) of the file's data
// section, i.e. of every tensor byte. Model files and checkpoints carry it; a flipped bit in the
// data is then caught on load instead of being trained on or served.
inline constexpr const char* kDataSha256Key = "kiln.data_sha256";

// Every tensor of the file whose dtype kiln supports; an unsupported dtype is an error naming the
// tensor and the file. With `verify`, a file whose metadata records kDataSha256Key has its data
// section hashed (about 1 GB/s) and a mismatch is an error naming the file; files without the key
// (written before kiln recorded it, or by other tools) load unchecked.
StateDict load_safetensors(const std::string& path,
                           std::map<std::string, std::string>* metadata = nullptr,
                           bool verify = true);

// Records kDataSha256Key in the metadata (replacing any value the caller passed).
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln::nn
