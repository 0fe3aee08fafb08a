#include "nn/model_file.h"

#include "nn/empty_init.h"
#include "nn/family.h"
#include "nn/state_dict_io.h"
#include "nn/tensor_compression.h"

namespace kiln::nn {

ModelFile read_model_file(const std::string& path, bool verify) {
  std::map<std::string, std::string> meta;
  ModelFile m;
  m.tensors = load_safetensors(path, &meta, verify);
  meta.erase(kDataSha256Key);  // describes this file's bytes only: write_model_file makes a new one
  decompress_tensors(m.tensors, meta, path);  // a zstd-compressed file (kiln.compression)
  auto take = [&](const std::string& key, bool required) -> std::string {
    auto it = meta.find(key);
    if (it == meta.end()) {
      KILN_CHECK(!required, path, ": not a kiln model file (metadata has no '", key,
                 "'; convert a Hugging Face checkpoint with 'kiln convert')");
      return "";
    }
    std::string v = it->second;
    meta.erase(it);
    return v;
  };
  const std::string version = take("kiln.format", true);
  KILN_CHECK(version == kModelFormatVersion, path, ": kiln model format version '", version,
             "' is not supported (this kiln reads version ", kModelFormatVersion, ")");
  m.family = take("kiln.family", true);
  auto parse = [&](const std::string& key, const std::string& text) {
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": metadata '" + key + "' is not valid JSON (" + e.what() + ")");
    }
  };
  m.config = parse("kiln.config", take("kiln.config", true));
  m.tokenizer_json = take("kiln.tokenizer", false);
  const std::string prov = take("kiln.provenance", false);
  if (!prov.empty()) m.provenance = parse("kiln.provenance", prov);
  if (auto q = meta.find(kQuantizationKey); q != meta.end())
    m.quantization = parse_quantization(q->second, m.tensors, path);
  m.extra_metadata = std::move(meta);
  // Quantized tensors are checked against the config by their original shapes.
  check_config_against_tensors(family_by_name(m.family, path), m.config,
                               with_float_placeholders(m.tensors, m.quantization),
                               path + " (kiln.config)");
  return m;
}

void load_model_file_tensors(Module& model, ModelFile& mf, const std::string& path) {
  // Quantized tensors load as placeholders first, then go into their layers.
  model.load_state_dict(with_float_placeholders(mf.tensors, mf.quantization), /*strict=*/false,
                        path);
  // A parameter the file lacks is refused by load_state_dict; a buffer it lacks (batch norm's
  // running statistics) would otherwise run as a placeholder.
  check_no_placeholders(model, path);
  attach_quantized_weights(model, mf.tensors, mf.quantization, path);
  mf.tensors.clear();
}

void write_model_file(const std::string& path, const ModelFile& m) {
  std::map<std::string, std::string> meta = m.extra_metadata;
  meta["kiln.format"] = kModelFormatVersion;
  meta["kiln.family"] = m.family;
  meta["kiln.config"] = m.config.dump();
  if (!m.tokenizer_json.empty()) meta["kiln.tokenizer"] = m.tokenizer_json;
  meta["kiln.provenance"] = m.provenance.dump();
  save_safetensors(path, m.tensors, meta);
}

}  // namespace kiln::nn
