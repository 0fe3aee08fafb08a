// bf16 mixed precision as a scoped mode of the GEMM ops, like torch.autocast(dtype=bfloat16) on
// CPU. While a Bf16AutocastGuard(true) is alive on a thread, f32 linear and matmul run their
// GEMMs (forward and both backward GEMMs) on bf16 operands with f32 accumulation
// (gemm::bf16gemm: vdpbf16ps where the CPU has AVX512_BF16). Everything else stays f32: the
// tensors they return, the parameters (f32 master weights), gradients, optimizer moments, layer
// norm, softmax, attention, losses. An op records the mode it ran in, so its backward uses the
// same precision wherever the backward runs.
//
// Memory: no bf16 copy of a weight is ever kept. linear hands its f32 weight to
// gemm::bf16gemm_f32b, which rounds it to bf16 while packing it (the forward and input-gradient
// GEMMs), and saves an alias of the weight for the backward as the f32 path does. Its input is
// saved in bf16 (what the weight-gradient GEMM reads), and consecutive linears on the same input
// (the Q, K and V projections) share one bf16 copy through bf16_input's one-entry cache, which the
// outermost enabled guard holds and drops.
#pragma once

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
// to_bf16_matrix for a linear's input, shared with the previous call on this thread when `x` is
// the same view (data pointer, shape, strides) of the same live storage at the same in-place
// version, so the Q, K and V projections of one hidden state hold one bf16 copy between them, not
// three. Outside an enabled guard it simply converts.
Tensor bf16_input(const Tensor& x);

}  // namespace kiln
