// DenseNet's eval-mode forward on channels-last feature maps, built once by
// DenseNet::pack_for_inference and used for no-grad eval forwards that want no intermediate
// activations. Same maths as DenseNet::pooled_features, rearranged for speed:
//   - each dense block owns one [N*H*W, C_final] buffer (a row per pixel); every layer reads the
//     channels before it in place and writes its growth_rate new channels beside them, so nothing
//     is ever concatenated (the usual DenseNet forward copies the whole concatenation per layer);
//   - norm1 + relu1 is applied while copying a chunk of rows into an L2-resident operand for the
//     1x1 GEMM (core/kernels/bn_relu_rows.h); conv1 has norm2 folded into its weights and relu2 is
//     the GEMM's epilogue; its output lands in an [N*H*W, bn_size*growth] row buffer, from which
//     the 3x3 conv runs as Winograd F(4x4, 3x3) (core/kernels/winograd_f2x3.h; edge tiles read
//     zeros outside the image, so the buffer needs no border): 4x fewer multiplications than the
//     direct form. DenseNet121's forward at 8 x 224^2 (bench_densenet_bench, 2 threads,
//     interleaved): direct form (per kernel row one GEMM against the row's 3 taps side by side)
//     170 ms, Winograd F(2x2, 3x3) 154 ms (2026-12-03), F(4x4, 3x3) ~120 ms (2026-12-04); within
//     5e-7 of torchvision's logits each time;
//   - the float ImageNet stem (conv0 with norm0 folded, relu0, pool0) runs channels-last too
//     (nn/densenet_stem.h) and writes block 1's rows directly (a quantized or small stem goes
//     through the conv op);
//   - the transition's 2x2 average pool commutes with its 1x1 conv (both linear, the ReLU is
//     before them), so it pools first and convolves a quarter of the pixels;
//   - every weight is packed once (gemm::PackedB); pixel rows are the GEMM's M, so batch and
//     image size make M large and the micro-kernel sees full tiles.
// Quantized convolutions (kiln quantize; nn/quantized_conv.h) run as their GEMMs on the same
// buffers: conv1 on the normalised rows through quant::linear_quant, then norm2 + relu as an
// affine pass (the fold needs a float weight); conv2 on rows gathered from the bottleneck rows
// (taps outside the image as zeros) in the weight's order, written straight into the block
// buffer; a transition's conv on its
// pooled rows. Float and quantized layers mix freely.
// Results agree with the layer-by-layer forward to float rounding (the summation order differs),
// and are bit-identical across thread counts: threads take whole row chunks whose boundaries
// depend only on the shapes, each chunk's GEMMs are sgemm_packed_b, itself thread-count
// independent, and a Winograd tile's arithmetic does not depend on the tile range it is in.
#pragma once

#include <memory>
#include <vector>

#include "core/gemm.h"
#include "core/qgemm.h"
#include "core/tensor.h"

namespace kiln::nn {

class DenseNet;
class PackedStem;

class DenseNetInference {
 public:
  // Folds and packs `net`'s current weights and running statistics (a snapshot: later weight
  // changes need a new pack). Needs f32 weights.
  explicit DenseNetInference(const DenseNet& net);
  ~DenseNetInference();
  // pixel_values [N, 3, H, W] f32 -> the pooled features [N, C] (ReLU + global average pool of
  // norm5's output), as DenseNet::pooled_features.
  Tensor pooled_features(const Tensor& x) const;

  // Eval batch norm as y = x * scale + shift (scale = invstd * gamma, shift = beta - mean * scale,
  // in f32 as batch_norm computes them).
  struct Affine {
    std::vector<float> scale, shift;
  };
  struct Layer;
  struct Transition;

 private:
  // The imagenet stem in float: conv0 with norm0 folded in, relu0 and pool0 (nn/densenet_stem.h).
  std::unique_ptr<PackedStem> stem_;
  Tensor stem_weight_;  // the small stem's conv0 (no norm0, no bias), run by the conv op
  // conv0 quantized (kiln quantize --include-head): its GEMM, then norm0 (when there is one) as
  // an affine map, since a quantized weight cannot take the fold.
  std::shared_ptr<const quant::PackedQuantB> stem_q_;
  Shape stem_shape_;
  Affine stem_norm_;
  std::vector<std::vector<Layer>> blocks_;
  std::vector<Transition> transitions_;
  Affine norm5_;
  int64_t growth_, inner_;
  bool small_stem_;  // config stem "small": conv0 3x3 / 1, no norm0, relu0 or pool0
};

}  // namespace kiln::nn
