// The quantization pass's per-tensor decisions and what turns them into a model file: the
// quantized tensors, the kiln.quantization metadata (nn/quantized_weight.h) and the printed table.
#pragma once

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/quant_format.h"
#include "nn/model_file.h"
#include "quant/eligibility.h"

namespace kiln::quant {

struct TensorDecision {
  std::string name;
  Shape shape;
  std::string kind;    // "linear", "embedding"
  std::string format;  // "int8", "q4_0", "q4_1", "bf16" or "f32" (kept in float)
  std::string reason;
  double drop = NAN;  // auto: the metric drop with this tensor alone in `format` (points)
};

// One decision per candidate: eligible ones take `format` ("--scheme FORMAT" as the reason), the
// others stay f32 with their reason.
std::vector<TensorDecision> uniform_decisions(const std::vector<Candidate>& candidates,
                                              const std::string& format);

// Bytes `format` stores for a tensor of `shape` ("f32": 4 per element).
size_t stored_bytes(const std::string& format, const Shape& shape);

// Rows of a weight [n, k] (row stride k, f32) into n canonical rows: quantize_rows by default.
using RowQuantizer =
    std::function<void(Format format, const float* w, int64_t n, int64_t k, uint8_t* dst)>;

// w (any float dtype, 2-D or more: n = dim 0, k = the rest) as canonical rows, U8 [n, row_bytes],
// made by `rows` (round to nearest, quantize_rows, when unset).
Tensor quantize_tensor(const Tensor& w, Format format, const RowQuantizer& rows = {});

// Rounds one tensor another way than quantize_tensor (GPTQ, quant/gptq.h): returns its canonical
// rows, or an undefined tensor to leave it to quantize_tensor. May add to the decision's reason.
using TensorQuantizer =
    std::function<Tensor(TensorDecision& decision, const Tensor& weight, Format format)>;

// `input` (a float model file) with each decision applied and kiln.quantization recording every
// decision plus `settings` (the pass's options and measurements). A decision to keep a tensor
// ("f32") keeps it as stored, and its format becomes the stored dtype ("f32", "bf16", "f16").
// `rounding`, when set, is asked first for each quantized tensor.
nn::ModelFile quantized_model_file(const nn::ModelFile& input,
                                   std::vector<TensorDecision>& decisions,
                                   const nlohmann::json& settings,
                                   const TensorQuantizer& rounding = {});

// The decisions as an aligned text table (tensor, shape, format, size, reason).
std::string decision_table(const std::vector<TensorDecision>& decisions);

// Bytes of a state dict's tensors as stored.
size_t tensor_bytes(const nn::StateDict& tensors);

}  // namespace kiln::quant
