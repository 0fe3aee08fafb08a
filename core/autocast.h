// bf16 mixed precision as a scoped mode of the GEMM ops, like torch.autocast(dtype=bfloat16) on
// CPU. While a Bf16AutocastGuard(true) is alive on a thread, f32 linear and matmul run their
// GEMMs (forward and both backward GEMMs) on bf16 operands with f32 accumulation
// (gemm::bf16gemm: vdpbf16ps where the CPU has AVX512_BF16). Everything else stays f32: the
// tensors they return, the parameters (f32 master weights), gradients, optimizer moments, layer
// norm, softmax, attention, losses. An op records the mode it ran in, so its backward uses the
// same precision wherever the backward runs.
//
// Weights are rounded to bf16 once per scope: the outermost enabled guard holds a cache of bf16
// copies keyed by the weight's storage and in-place version, so every micro-batch of an update
// reuses the copy and an optimizer step (which bumps the version) makes it convert again.
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace kiln {

bool bf16_autocast_enabled();

class Bf16AutocastGuard {
 public:
  explicit Bf16AutocastGuard(bool enabled = true);
  ~Bf16AutocastGuard();
  Bf16AutocastGuard(const Bf16AutocastGuard&) = delete;
  Bf16AutocastGuard& operator=(const Bf16AutocastGuard&) = delete;

 private:
  bool prev_;
  bool owns_cache_ = false;
};

// A 2-D f32 tensor (any strides) rounded to a dense row-major bf16 copy (dtype BF16).
Tensor to_bf16_matrix(const Tensor& x);
// The bf16 copy of a 2-D f32 weight: from the scope's cache while `w`'s storage version is
// unchanged, else converted (and cached when a guard holds a cache).
Tensor bf16_weight(const Tensor& w);
// Entries in the current scope's cache (tests).
int64_t bf16_weight_cache_size();

}  // namespace kiln
