// For the model benchmarks' --model FILE: a bench builds the model from the file's config inside an
// nn::EmptyInit scope and loads it with nn::load_model_file_tensors, as tools/model_loading.cpp
// does, so it times the same layers `kiln classify` / `kiln summarize` run, with their set-up
// memory.
#pragma once

#include <string>

#include "nn/model_file.h"
#include "nn/quantized_weight.h"

namespace kiln::bench {

// "f32", or the formats the file's kiln.quantization holds ("int8", "q4_0+f32", ...) for the
// result line.
inline std::string weight_formats(const nn::ModelFile& mf) {
  std::string out;
  for (const auto& [name, info] : mf.quantization)
    if (out.find(info.format) == std::string::npos) out += (out.empty() ? "" : "+") + info.format;
  return out.empty() ? "f32" : out;
}

}  // namespace kiln::bench
