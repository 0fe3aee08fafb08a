// See elementwise_relu.h. A plain loop: memory-bound, so the baseline build's 4-wide SSE vectors
// already move data at the memory's speed once the branch is gone.
#include "core/kernels/elementwise_relu.h"

namespace kiln::kernels {

void relu_backward_f32(const float* __restrict g, const float* __restrict x, float* __restrict dx,
                       int64_t n) {
  // Both operands loaded unconditionally: a load under the condition is not if-converted (it
  // might fault), and the loop then stays scalar with a mispredicting branch.
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i], xi = x[i];
    dx[i] = xi > 0.0f ? gi : 0.0f;
  }
}

}  // namespace kiln::kernels
