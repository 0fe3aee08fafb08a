// The inference engine's ImageNet stem (nn/densenet_stem.h: conv0 as per-row GEMMs on gathered
// channels-last fields, bias + ReLU in the epilogue, then the 3x3 / 2 max pool) against the ops it
// replaces, conv2d -> relu -> max_pool2d, on sizes that reach its edges: odd and even inputs (the
// pool's last window half outside), inputs barely larger than the kernel, more than one image,
// and an output row stride wider than the channels (it writes into the first block's buffer).
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "nn/densenet_stem.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

// relu(conv2d(x, w, b)) max-pooled 3x3 / 2 / 1, as [N * oh * ow, cout] pixel rows.
Tensor by_ops(const Tensor& x, const Tensor& w, const Tensor& b) {
  NoGradGuard ng;
  Conv2dOptions c;
  c.stride = {2, 2}, c.padding = {3, 3};
  Pool2dOptions p;
  p.kernel = {3, 3}, p.stride = {2, 2}, p.padding = {1, 1};
  const Tensor y = max_pool2d(relu(conv2d(x, w, b, c)), p);  // [N, C, oh, ow]
  return reshape(permute(y, {0, 2, 3, 1}).contiguous(), {-1, y.size(1)});
}

TEST(DenseNetStem, MatchesConvReluMaxPoolOps) {
  const Shape inputs[] = {
      {1, 3, 7, 7}, {2, 3, 8, 9}, {1, 3, 37, 45}, {3, 3, 64, 64}, {1, 3, 224, 224}};
  uint64_t seed = 5;
  for (const Shape& in : inputs) {
    Generator gen(seed++);
    const int64_t cout = 16, pad = 3;  // pad: extra floats per output row (a wider buffer)
    const Tensor w = mul(Tensor::randn({cout, 3, 7, 7}, gen), 0.1);
    const Tensor b = mul(Tensor::randn({cout}, gen), 0.1);
    const Tensor x = Tensor::randn(in, gen);
    const Tensor want = by_ops(x, w, b);
    const PackedStem stem(w, b, /*stride=*/2, /*padding=*/3);
    const auto [oh, ow] = stem.output_size(in[2], in[3]);
    ASSERT_EQ(in[0] * oh * ow, want.size(0)) << shape_str(in);
    std::vector<float> out(static_cast<size_t>(want.size(0) * (cout + pad)), -7.0f);
    EXPECT_EQ(stem.forward(x, out.data(), cout + pad), std::make_pair(oh, ow));
    Tensor got = Tensor::empty({want.size(0), cout});
    for (int64_t r = 0; r < want.size(0); ++r)
      for (int64_t o = 0; o < cout + pad; ++o) {
        const float v = out[static_cast<size_t>(r * (cout + pad) + o)];
        if (o < cout)
          got.data<float>()[r * cout + o] = v;
        else
          ASSERT_EQ(v, -7.0f) << "wrote past cout at row " << r;
      }
    // The same sums in another order (GEMM blocking vs the conv op's), then exact maxima.
    EXPECT_LT(testing::max_diff_over_max(got, want), 1e-6) << shape_str(in);
  }
}

TEST(DenseNetStem, BitIdenticalAcrossThreadCounts) {
  Generator gen(9);
  const Tensor w = mul(Tensor::randn({24, 3, 7, 7}, gen), 0.1);
  const Tensor b = mul(Tensor::randn({24}, gen), 0.1);
  const Tensor x = Tensor::randn({2, 3, 50, 61}, gen);
  const PackedStem stem(w, b, 2, 3);
  const auto [oh, ow] = stem.output_size(50, 61);
  std::vector<std::vector<float>> outs;
  const int before = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    outs.emplace_back(static_cast<size_t>(2 * oh * ow * 24));
    stem.forward(x, outs.back().data(), 24);
  }
  set_num_threads(before);
  EXPECT_EQ(outs[0], outs[1]);
  EXPECT_EQ(outs[0], outs[2]);
}

TEST(DenseNetStem, InputSmallerThanTheKernelIsAnError) {
  Generator gen(1);
  const PackedStem stem(Tensor::randn({8, 3, 7, 7}, gen), Tensor::zeros({8}), 2, 3);
  std::vector<float> out(64);
  EXPECT_THROW(stem.forward(Tensor::randn({1, 3, 0, 5}, gen), out.data(), 8), Error);
  EXPECT_THROW(stem.forward(Tensor::randn({1, 4, 9, 9}, gen), out.data(), 8), Error);
}

}  // namespace
}  // namespace kiln::nn
