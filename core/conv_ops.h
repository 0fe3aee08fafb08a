// Convolution, batch norm and pooling over NCHW images, as torch.nn.functional defines them.
// Declared apart from core/ops.h so that the image ops do not rebuild every user of the core.
// Each op's shape checks and autograd record live in core/ops/<op>.cpp; the CPU arithmetic is in
// core/kernels/ (a later device backend adds kernels there, not edits here).
#pragma once

#include <array>
#include <vector>

#include "core/tensor.h"

namespace kiln {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};  // zero padding on both sides of H, W
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

// x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] or undefined -> [N, Cout, Ho,
// Wo] with Ho = (H + 2p - d(kh-1) - 1) / s + 1 (floor).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options = {});

// x [N, C, ...] normalised per channel C. training: batch statistics over N and the trailing
// dimensions (biased variance), and, when running_mean/running_var are given, those are updated in
// place (never recorded): running = (1 - momentum) * running + momentum * stat, the variance
// unbiased (n / (n - 1)). Not training: the running statistics normalise. weight/bias optional.
// num_batches_tracked is the caller's (a module counter), as torch's functional batch_norm.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);
// Per-channel batch statistics of x [N, C, ...]: the mean and the biased variance, exactly as a
// training batch_norm computes them. A channel's figures depend on its own values only (in a
// fixed order), so the statistics of tensors concatenated along C are theirs concatenated, bit
// for bit: DenseNet computes each block feature's once instead of once per later layer.
struct BatchStatistics {
  Tensor mean, var;  // [C] each, x's dtype, no grad
};
BatchStatistics batch_statistics(const Tensor& x);
// A training batch_norm's running-statistics update from batch statistics computed elsewhere (a
// fused training kernel, nn/densenet_block_train.h): running = (1 - momentum) * running +
// momentum * stat, the variance made unbiased (count / (count - 1)), each as batch_norm writes
// it. f32 buffers; mean and var hold running_mean.numel() values.
void batch_norm_update_running(const Tensor& running_mean, const Tensor& running_var,
                               const float* mean, const float* var, int64_t count, double momentum);
BatchStatistics concat_statistics(const std::vector<BatchStatistics>& parts);

// relu(batch_norm(...)) as one op: one pass forward, and a backward that masks the gradient with
// the output inside batch norm's own passes. Keeps no normalised-but-not-rectified tensor for
// backward, so a DenseNet layer holds one wide tensor less (as torch's in-place ReLU).
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum = 0.1, double eps = 1e-5);
// batch_norm_relu in training with x's batch statistics already computed (batch_statistics of x
// or of the parts x was concatenated from): the same bits as batch_norm_relu(..., true, ...). The
// backward still treats them as functions of x (the batch-statistics gradient).
Tensor batch_norm_relu_known(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var, double momentum,
                             double eps, const BatchStatistics& known);

struct Pool2dOptions {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> stride{0, 0};  // 0: the kernel size (torch's default)
  std::array<int64_t, 2> padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};

// x [N, C, H, W]. Output sizes and window clipping as torch (ceil_mode drops a last window that
// would start in the right padding); max pooling pads with -inf, ties go to the first maximum.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
// Windows [floor(i*H/oh), ceil((i+1)*H/oh)) per output row, likewise columns.
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

// Inference folding of a batch norm (eval mode: running statistics) that follows a convolution:
// conv(x, w', b') == batch_norm(conv(x, w, b)) with w' = w * s per output channel and
// b' = beta + (b - mean) * s, s = gamma / sqrt(var + eps). conv_bias may be undefined (zero).
struct FoldedConv {
  Tensor weight, bias;
};
FoldedConv fold_batch_norm_into_conv(const Tensor& conv_weight, const Tensor& conv_bias,
                                     const Tensor& bn_weight, const Tensor& bn_bias,
                                     const Tensor& running_mean, const Tensor& running_var,
                                     double eps);

}  // namespace kiln
