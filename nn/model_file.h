// The kiln model file: a safetensors file (so standard tools can read it) whose __metadata__ says
// what the tensors are:
//   kiln.format      "1"
//   kiln.family      model family ("bert")
//   kiln.config      the Hugging Face config.json the model was built from (JSON text)
//   kiln.tokenizer   the tokenizer as tokenizer.json text (absent if the model has none)
//   kiln.provenance  JSON: source files with sha256, kiln version, storage dtype
// Tensors keep their Hugging Face state-dict names and are loaded zero-copy from the mapping.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

inline constexpr const char* kModelFormatVersion = "1";

struct ModelFile {
  std::string family;
  nlohmann::json config;
  std::string tokenizer_json;  // empty: no tokenizer
  nlohmann::json provenance = nlohmann::json::object();
  StateDict tensors;
  std::map<std::string, std::string> extra_metadata;  // other keys, kept as they are
};

// Throws kiln::Error naming the file when it is not a valid kiln model file (missing or malformed
// kiln.* metadata, unsupported format version).
ModelFile read_model_file(const std::string& path);
// Atomic: a crash mid-write leaves any previous file intact.
void write_model_file(const std::string& path, const ModelFile& model);

}  // namespace kiln::nn
