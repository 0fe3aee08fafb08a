// The kiln model file: a safetensors file (so standard tools can read it) whose __metadata__ says
// what the tensors are:
//   kiln.format      "1"
//   kiln.family      model family ("bert")
//   kiln.config      the Hugging Face config.json the model was built from (JSON text)
//   kiln.tokenizer   the tokenizer as tokenizer.json text (absent if the model has none)
//   kiln.provenance  JSON: source files with sha256, kiln version, storage dtype
//   kiln.word_splitter  how the training data's text was cut into words (tokenizer/word_splitter.h;
//                    written by `kiln train`, used by `kiln tag` on "text"; absent: "tokenizer");
//                    one of the extra_metadata keys, so `kiln convert` of a kiln file keeps it
//   kiln.generation_config  the checkpoint's generation_config.json (JSON text; absent when it had
//                    none): generation's defaults (nn/generation_config.h); an extra_metadata key
//   kiln.data_sha256 sha256 of the data section (every tensor byte), checked on load; files
//                    written before kiln recorded it load without the check
//   kiln.quantization  which tensors are quantized and how (nn/quantized_weight.h; written by
//                    `kiln quantize`); an extra_metadata key, parsed into `quantization`
//   kiln.compression zstd-compressed tensors (nn/tensor_compression.h): decompressed on read, so
//                    `tensors` always holds the plain tensors and the key is not kept
// Tensors keep their Hugging Face state-dict names and are loaded zero-copy from the mapping.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"
#include "nn/quantized_weight.h"

namespace kiln::nn {

inline constexpr const char* kModelFormatVersion = "1";
inline constexpr const char* kWordSplitterKey = "kiln.word_splitter";
inline constexpr const char* kGenerationConfigKey = "kiln.generation_config";

struct ModelFile {
  std::string family;
  nlohmann::json config;
  std::string tokenizer_json;  // empty: no tokenizer
  nlohmann::json provenance = nlohmann::json::object();
  StateDict tensors;
  std::map<std::string, std::string> extra_metadata;  // other keys, kept as they are
  // kiln.quantization, parsed and checked against `tensors` (empty: a float model). Quantized
  // tensors stay in `tensors` as their U8 rows; load them with with_float_placeholders +
  // attach_quantized_weights.
  QuantizationTable quantization;
};

// Throws kiln::Error naming the file when it is not a valid kiln model file (missing or malformed
// kiln.* metadata, unsupported format version, a family this kiln does not know), when its tensor
// data does not match kiln.data_sha256 (skipped without `verify`: --no-verify), or when its config
// disagrees with its tensors (check_config_against_tensors: layer count, sizes, vocabulary), so
// that nothing is built from a config the file cannot back.
ModelFile read_model_file(const std::string& path, bool verify = true);

// Puts a model file's tensors into `model` (built for mf.config, best under nn::EmptyInit): the
// float tensors through load_state_dict, a slot the file left unfilled refused by name
// (check_no_placeholders), then the quantized ones into their layers. mf.tensors is emptied: the
// model holds what it needs, and the rest of the mapping can go. Errors name `path`.
void load_model_file_tensors(Module& model, ModelFile& mf, const std::string& path);
// Atomic: a crash mid-write leaves any previous file intact.
void write_model_file(const std::string& path, const ModelFile& model);

}  // namespace kiln::nn
