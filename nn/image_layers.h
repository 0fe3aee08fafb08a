// The image layers, with torch.nn's parameter and buffer names: Conv2d (weight, bias) and
// BatchNorm2d (weight, bias, running_mean, running_var, num_batches_tracked).
#pragma once

#include <memory>
#include <string>

#include "core/conv_ops.h"
#include "core/qgemm.h"
#include "core/rng.h"
#include "nn/module.h"

namespace kiln::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, const Conv2dOptions& options, bool bias);
  Tensor forward(const Tensor& x) const;
  // torch's kaiming_normal_ (fan_in, ReLU gain): normal(0, sqrt(2 / fan_in)); bias 0.
  void init_kaiming_normal(Generator& gen);
  Tensor& weight;
  Tensor& bias;  // undefined without bias
  Conv2dOptions options;

  // Makes the layer run on a quantized weight, as Linear::set_quantized: `w` holds c_out rows of
  // c_in * kh * kw (nn/quantized_conv.h), forwards run its GEMM, inference only; the weight slot
  // keeps its (placeholder) tensor and is never read. groups must be 1.
  void set_quantized(std::shared_ptr<const quant::PackedQuantB> w, const std::string& name);
  const std::shared_ptr<const quant::PackedQuantB>& quantized() const { return qweight_; }
  // Back to the float weight `w` [c_out, c_in, kh, kw].
  void clear_quantized(Tensor w);

 private:
  std::shared_ptr<const quant::PackedQuantB> qweight_;
  std::string qname_;
};

// Training mode normalises with batch statistics and updates the running ones (and counts the
// batch in num_batches_tracked, an int64 0-d buffer, as torch); eval mode uses the running ones.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) const;
  // relu(forward(x)) as one op (batch_norm_relu): less memory kept for backward, one pass less.
  // `known`: x's batch statistics when already computed (used in training, see batch_norm_relu).
  Tensor forward_relu(const Tensor& x, const BatchStatistics* known = nullptr) const;
  void reset();  // weight 1, bias 0, running mean 0 / var 1, no batches tracked
  // What a training forward does to the buffers, for batch statistics computed by a fused kernel
  // (nn/densenet_block_train.h): one more batch tracked, the running statistics updated.
  void track_batch(const float* mean, const float* var, int64_t count) const;
  Tensor& weight;
  Tensor& bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;
  double eps, momentum;

 private:
  Tensor normalise(const Tensor& x, bool relu, const BatchStatistics* known = nullptr) const;
  void count_batch() const;  // writable buffers, num_batches_tracked + 1
};

// A conv followed by an eval batch norm, folded into one conv for inference
// (fold_batch_norm_into_conv); `valid` is false until made, and stays false for a quantized conv
// (its float weight is not there to fold: the norm then runs after it).
struct FoldedConvBn {
  bool valid = false;
  Tensor weight, bias;
  Conv2dOptions options;
  void make(const Conv2d& conv, const BatchNorm2d& bn);
  Tensor forward(const Tensor& x) const { return conv2d(x, weight, bias, options); }
};

// torch.nn.Linear's default init: weight kaiming_uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)),
// bias U(+-1/sqrt(fan_in)).
void init_linear_default(Tensor& weight, Tensor& bias, Generator& gen);

}  // namespace kiln::nn
