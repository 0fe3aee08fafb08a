// DenseNet's ImageNet stem for the inference engine (nn/densenet_inference.h): conv0 7x7 / 2
// (norm0 folded in) + relu0 + pool0 (max 3x3 / 2, padding 1), from NCHW pixel values straight to
// the first dense block's channels-last pixel rows. The conv runs as one GEMM per output image
// row: the row's receptive fields gathered from a zero-bordered channels-last copy of the image
// (each field is kernel-height contiguous runs of kernel-width x channels floats, so a gather is
// a few short copies), against the weight packed once with k in (i, j, c) order; bias and ReLU
// are the GEMM's epilogue. The general conv op instead gathers NCHW columns and packs them as the
// GEMM's B operand on every call, then the pool transposes back: together 10% of a DenseNet121
// 8 x 224^2 forward.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/gemm.h"
#include "core/tensor.h"

namespace kiln::nn {

// The pieces of that conv shared with the training stem (nn/densenet_stem_train.h):
// x [N, cin, H, W] f32 channels-last with a zero border of `pad` pixels: [N, H + 2 pad, W + 2 pad,
// cin].
Tensor padded_pixels(const Tensor& x, int64_t pad);
// weight [cout, cin, k, k] as rows [cout, k * k * cin], k in (i, j, c) order.
std::vector<float> weight_rows_ijc(const Tensor& weight);
// The inverse: rows [cout, k * k * cin] in (i, j, c) order as a weight [cout, cin, k, k].
Tensor weight_from_rows_ijc(const float* rows, int64_t cout, int64_t cin, int64_t k);
// The receptive fields of output row oy of image img (w1 fields, each k * k * cin floats in (i,
// j, c) order, k * cin floats apart per kernel row) from padded pixels [N, hp, wp, cin], into a
// [w1, k * k * cin].
void gather_fields(const float* padded, int64_t hp, int64_t wp, int64_t cin, int64_t k,
                   int64_t stride, int64_t img, int64_t oy, int64_t w1, float* a);

class PackedStem {
 public:
  // weight [cout, cin, k, k] f32 with its bias [cout] (norm0 folded), square kernel, the given
  // stride and zero padding.
  PackedStem(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding);

  // relu(conv(x)) then 3x3 / 2 max pooling with padding 1, for x [N, cin, H, W] f32: output pixel
  // (img, y, x) to out[((img * oh + y) * ow + x) * ldo + o], o < cout. Returns {oh, ow}.
  std::pair<int64_t, int64_t> forward(const Tensor& x, float* out, int64_t ldo) const;
  // The pooled output's height and width for an input of h x w.
  std::pair<int64_t, int64_t> output_size(int64_t h, int64_t w) const;
  int64_t cout() const { return cout_; }

 private:
  std::unique_ptr<gemm::PackedB> w_;  // [k * k * cin, cout], k in (i, j, c) order
  std::vector<float> bias_;
  int64_t cin_, cout_, k_, stride_, pad_;
};

}  // namespace kiln::nn
