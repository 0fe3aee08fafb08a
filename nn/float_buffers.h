// Plain float buffers for the channels-last DenseNet engines (nn/densenet_inference,
// nn/densenet_block_train, nn/quantized_conv): a weight's values as a vector, and per-thread
// scratch arrays that grow on demand and are kept (their chunks are L2-sized and reused, so
// allocating per call would cost more than the work).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace kiln::nn {

// t's values in order (f32 only; `who` names the caller in the error).
inline std::vector<float> floats_of(const Tensor& t, const char* who) {
  const Tensor c = t.contiguous();
  KILN_CHECK(c.dtype() == DType::F32, who, ": expected f32 weights, got ", t.describe());
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

// v's data with room for at least n elements (v keeps what it had when it is large enough).
template <class T>
T* grow_scratch(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace kiln::nn
