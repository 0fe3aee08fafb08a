// zstd-compressed tensors in model files (kiln quantize --compress zstd), for shipping. A
// compressed tensor is stored under its own name as a U8 tensor [compressed bytes] (one zstd
// frame), so any safetensors reader still parses the file; the metadata key kiln.compression
// says how to get the tensor back:
//   {"codec": "zstd", "tensors": {NAME: {"dtype": "F32", "shape": [...]}, ...}}
// Tensors that zstd does not shrink are stored as they are and not listed. Loading decompresses
// into memory (the file is then no longer zero-copy), before anything else reads the tensors.
#pragma once

#include <map>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

inline constexpr const char* kCompressionKey = "kiln.compression";

// Replaces every tensor listed in meta[kCompressionKey] by its decompressed contents and removes
// the key. Errors name `origin`, the tensor and the field.
void decompress_tensors(StateDict& tensors, std::map<std::string, std::string>& meta,
                        const std::string& origin);

// The compressed form of `tensors` (zstd level `level`); *metadata_json receives the
// kiln.compression value. Deterministic: same tensors, same bytes.
StateDict compress_tensors(const StateDict& tensors, int level, std::string* metadata_json);

}  // namespace kiln::nn
