// What `kiln inspect` shows of a quantized or compressed kiln model file: each tensor's storage
// format (kiln.quantization) and the tensor data's size against the float (f32) model, with and
// without zstd (kiln.compression). Read from the header only, leniently: inspect describes a
// file, the loader (nn/quantized_weight.h) is what refuses a bad entry.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/io/safetensors_reader.h"

namespace kiln::cli {

// null when the file is neither quantized nor compressed; else {"formats": {name: format},
// "counts": {format: n}, "float_bytes", "stored_bytes" (uncompressed), "file_bytes" (tensor data
// as stored), "compressed": bool}.
nlohmann::ordered_json quantization_summary(const io::SafetensorsFile& f);

// The summary as text (nothing for a plain file); with `per_tensor`, one line per listed tensor.
void print_quantization_summary(const io::SafetensorsFile& f, bool per_tensor, std::ostream& os);

}  // namespace kiln::cli
