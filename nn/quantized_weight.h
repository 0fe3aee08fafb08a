// Quantized tensors in kiln model files. A quantized weight W (core/quant_format.h) is stored
// under its usual state-dict name as a U8 tensor [n, row_bytes(format, k)] (canonical rows, so the
// file stays mmap-able and an embedding can dequantize single rows); a convolution weight
// [c_out, c_in, kh, kw] is n = c_out, k = the rest (nn/quantized_conv.h). The metadata key
// kiln.quantization (JSON) says what each tensor is:
//   {"version": 1,
//    "tensors": {NAME: {"format": "int8" | "q4_0" | "q4_1" | "bf16" | "f16" | "f32",
//                       "shape": [original dims], "reason": "why this format"}, ...},
//    ...}  (other keys: the pass's settings and measurements, kept as they are)
// bf16 / f16 / f32 entries are plain tensors of that dtype (loading widens them): an eligible
// tensor stored in bf16 by --scheme bf16, or kept in float by the pass, and why. Everything not
// listed is an ordinary tensor.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/quant_format.h"
#include "nn/module.h"

namespace kiln::nn {

inline constexpr const char* kQuantizationKey = "kiln.quantization";
inline constexpr int kQuantizationVersion = 1;

struct QuantizedTensorInfo {
  std::string format;                  // "int8", "q4_0", "q4_1", "bf16", "f16", "f32"
  std::optional<quant::Format> quant;  // set for the block/int8 formats
  Shape shape;                         // the original (float) shape
  std::string reason;
  // The GEMM view: n = shape[0], k = the product of the rest.
  int64_t n() const { return shape.empty() ? 0 : shape[0]; }
  int64_t k() const;
};
using QuantizationTable = std::map<std::string, QuantizedTensorInfo>;

// Parses kiln.quantization and checks it against the file's tensors: every error names `origin`
// and the field (kiln.quantization.tensors["NAME"].format ...).
QuantizationTable parse_quantization(const std::string& json_text, const StateDict& tensors,
                                     const std::string& origin);

// `tensors` with each quantized tensor replaced by a zero-cost f32 placeholder of its original
// shape (a broadcast view of one element): what config checks and load_state_dict expect. The
// placeholders must be replaced by attach_quantized_weights before any forward.
StateDict with_float_placeholders(const StateDict& tensors, const QuantizationTable& table);

// Puts each quantized tensor into its layer (Linear and Conv2d: repacked for quant::linear_quant;
// Embedding: the mapped rows). A quantized tensor that is not the weight of a Linear, Conv2d or
// Embedding of `model`, has the wrong rank for it, or is tied to other names, is an error naming
// it.
void attach_quantized_weights(Module& model, const StateDict& tensors,
                              const QuantizationTable& table, const std::string& origin);

// The first quantized tensor's name (empty when none): for commands that refuse quantized models.
std::string first_quantized_tensor(const QuantizationTable& table);

}  // namespace kiln::nn
