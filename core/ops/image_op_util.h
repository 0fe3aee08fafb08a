// Helpers shared by the NCHW image ops (conv2d, batch_norm, pooling).
#pragma once

#include <cstring>
#include <string>

#include "core/autograd.h"
#include "core/tensor.h"

namespace kiln::image_ops {

// The values a kernel reads: no graph, contiguous (a copy only for a strided view).
inline Tensor detached_contiguous(const Tensor& t) {
  if (!t.defined()) return t;
  NoGradGuard ng;
  return t.detach().contiguous();
}

inline void check_nchw(const Tensor& x, const char* op) {
  KILN_CHECK(x.dim() == 4, op, ": expected an input [N, C, H, W], got ", x.describe());
  KILN_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, op,
             ": expected an f32 or f64 input, got ", x.describe());
}

// Zeros a fresh tensor's elements (undefined: nothing).
inline void zero_fill(const Tensor& t) {
  if (t.defined() && t.numel() > 0) std::memset(t.raw_data(), 0, t.nbytes());
}

}  // namespace kiln::image_ops
