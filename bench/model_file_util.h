// For the model benchmarks' --model FILE: weights from a kiln model file (float or quantized by
// `kiln quantize`) loaded into a model the bench built from that file's config, the way
// tools/model_loading.cpp does it (placeholders for quantized tensors, then the quantized rows go
// into their layers), so a bench times the same layers `kiln classify` / `kiln summarize` run.
// Build the model inside an nn::EmptyInit scope, as they do, so set-up memory is theirs too.
#pragma once

#include <string>

#include "nn/empty_init.h"
#include "nn/model_file.h"
#include "nn/module.h"
#include "nn/quantized_weight.h"

namespace kiln::bench {

// Loads mf's tensors into `model` (built from mf.config) and releases the file's mapping.
inline void load_model_file_into(nn::Module& model, nn::ModelFile& mf, const std::string& path) {
  model.load_state_dict(nn::with_float_placeholders(mf.tensors, mf.quantization),
                        /*strict=*/false, path);
  nn::check_no_placeholders(model, path);
  nn::attach_quantized_weights(model, mf.tensors, mf.quantization, path);
  mf.tensors.clear();
}

// "f32", or the formats the file's kiln.quantization holds ("int8", "q4_0+f32", ...) for the
// result line.
inline std::string weight_formats(const nn::ModelFile& mf) {
  std::string out;
  for (const auto& [name, info] : mf.quantization)
    if (out.find(info.format) == std::string::npos) out += (out.empty() ? "" : "+") + info.format;
  return out.empty() ? "f32" : out;
}

}  // namespace kiln::bench
