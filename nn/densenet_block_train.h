// A DenseNet dense block's training forward and backward as one autograd op, on channels-last
// rows. The op-by-op path (DenseNet::pooled_features) concatenates every earlier feature for
// each layer, normalises that concatenation into a new tensor, and in backward adds each layer's
// gradient of the concatenation back into every part: O(L^2) copies and passes over the block.
// Here, as in the inference engine (nn/densenet_inference.h):
//   - the block owns one [N*H*W, C_final] row buffer; each layer reads the channels before it in
//     place and writes its growth_rate new channels beside them;
//   - each channel's batch statistics are computed once, when it is written (a channel's mean
//     and variance do not depend on which layer reads it); every norm1 that reads it normalises
//     with them (its own weight and bias), and its running statistics are updated as
//     batch_norm's would be;
//   - the 3x3 convolution runs as Winograd F(2x2, 3x3) (core/kernels/winograd_f2x3.h) in
//     forward and for the input gradient (the same convolution with the kernel flipped and its
//     channels swapped: its Winograd weights are the forward's with tile positions permuted);
//     its weight gradient is one GEMM per tap over a zero-bordered grid (tap (i, j) then reads
//     every pixel's input at one fixed offset), per chunk of grid positions kept in L2, computed
//     transposed (the input transposed once per layer is the GEMMs' A, read in place);
//   - conv1 runs per chunk of rows (norm1 + ReLU into an L2-resident chunk, W1 packed once); in
//     backward, per range of rows, norm1's output is recomputed in L2 beside conv1's weight
//     gradient share and input gradient, and norm1's backward runs on that while it is in L2;
//   - backward gathers the gradient of the whole block in one [N*H*W, C_final] buffer. Batch
//     norm's input gradient w * invstd * (g - mean(g) - xhat * mean(g * xhat)) splits into a
//     per-element part, added as each layer's backward runs, and a part affine in xhat whose two
//     coefficients per channel are summed over every layer that read the channel (xhat is the
//     same for all of them) and applied once, when the channel's gradient is complete;
//   - the transition after the block can be fused in: its norm + ReLU + 2x2 average pool from
//     the block's rows, its 1x1 conv on the pooled rows (pooling first: both are linear after the
//     ReLU), its norm's input gradient joining the block's like a norm1's. The block then never
//     exists in NCHW.
// Kept for backward: the row buffer, each layer's conv1 output (norm2's input; recomputed
// instead with checkpointing), conv2's Winograd weights, the transition's pooled rows and the
// statistics; the normalised inputs of conv1 and conv2 are recomputed. The weights of the layers
// are inputs of the op (their gradients flow as any op's).
// Under bf16 autocast (core/autocast.h) the block's GEMMs take bf16 operands with f32 accumulation
// (gemm::bf16gemm: AMX tiles where the CPU has them): conv1's forward, input gradient and weight
// gradient, and conv2's weight gradient; where the CPU has AMX and the channel counts are multiples
// of 16, conv2's forward and input gradient too (Winograd products on AMX tiles,
// kernels::winograd_f2x3_tiles_bf16; the transforms stay f32). Everything else stays f32: the
// statistics, the norms, the gradients' sums, the parameters. The op records the mode, so backward
// uses the forward's. (The op path's convolutions stay f32 under autocast.) Same maths as the op
// path within float rounding (other summation orders; the tests compare both, values and every
// gradient); results do not depend on the thread count (every parallel loop writes disjoint outputs
// or reduces over fixed, shape-determined ranges added in order, and the GEMMs are kiln's
// deterministic sgemm). DenseNet121 at 8 x 224^2, 2 threads, with the fused stem
// (nn/densenet_stem_train.h; bench/RESULTS.md, stop 34): f32 1.45-1.51x PyTorch's training step
// at 464 vs 1,962-2,002 MB peak; under bf16 autocast 1.29-1.31x PyTorch's autocast step
// (392.7-401.5 ms) at 466 vs 1,463-1,501 MB.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"

namespace kiln::nn {

class DenseLayer;
class Transition;

// Whether dense_block_train handles this block: f32 [N, C, H, W] input with N * H * W > 1, grad
// recording on, every norm in training mode with the same eps, no dropout, float (not
// quantized) 1x1 and 3x3 convolutions without bias, bn_size * growth_rate bottleneck channels.
// With `transition`, also that the transition after the block fuses (its norm in training mode
// with the layers' eps, a float 1x1 conv without bias, maps of at least 2 x 2).
bool dense_block_train_applies(const Tensor& x,
                               const std::vector<std::shared_ptr<DenseLayer>>& layers,
                               const Transition* transition = nullptr);

// The block's output, the concatenation [N, C + L * growth, H, W] of x and every layer's new
// channels (NCHW, as the op path returns it), recorded for autograd.
// recompute_bottleneck (gradient checkpointing): conv1's outputs are not kept but recomputed in
// backward, by the same GEMM on the same operands (the same bits): the block then keeps its row
// buffer and statistics only.
// With `transition`: the transition's output [N, C', H / 2, W / 2] instead (its norm + ReLU +
// average pool computed from the block's rows, then the conv on the pooled rows; its norm's
// input gradient joins the block's like a norm1's; its parameters are inputs of the op too).
Tensor dense_block_train(const Tensor& x, const std::vector<std::shared_ptr<DenseLayer>>& layers,
                         bool recompute_bottleneck = false, const Transition* transition = nullptr);

}  // namespace kiln::nn
