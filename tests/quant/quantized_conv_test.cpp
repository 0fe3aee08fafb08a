// Convolutions on quantized weights (nn/quantized_conv.h) and DenseNet running them:
//   - the fast path (chunked im2col rows + quant::linear_quant) against the plain reference
//     (every row gathered + linear_quant_reference): int8 bit for bit, q4 to float rounding, on
//     tiny odd shapes with stride, padding, dilation and partial 4-bit blocks;
//   - both against the dequantized weight through the float conv2d: q4 to float rounding, int8
//     within the activations' own 8-bit rounding (a bound computed from the data);
//   - bit-identical across 1 / 2 / 3 threads;
//   - nn::Conv2d holding a quantized weight: same result, autograd and reading it refused by name;
//   - DenseNet with every convolution quantized: the channels-last engine (after
//     pack_for_inference) against the layer-by-layer forward of the same quantized model, with
//     the imagenet and the small stem, and the engine's bits across 1 / 2 / 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "nn/image_layers.h"
#include "nn/quantized_conv.h"
#include "quant/decisions.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

using quant::Format;

struct Geo {
  Shape x, w;
  Conv2dOptions o;
};

Conv2dOptions opts(std::array<int64_t, 2> s, std::array<int64_t, 2> p,
                   std::array<int64_t, 2> d = {1, 1}) {
  Conv2dOptions o;
  o.stride = s, o.padding = p, o.dilation = d;
  return o;
}

// Tiny, odd shapes: k = 45 / 37 / 24 / 144 (partial 4-bit blocks), non-square kernels, stride,
// padding and dilation, a 1x1 pointwise conv, one pixel of output.
const std::vector<Geo> kGeos = {
    {{2, 5, 7, 6}, {7, 5, 3, 3}, opts({1, 1}, {1, 1})},
    {{1, 4, 9, 8}, {3, 4, 2, 3}, opts({2, 1}, {1, 0}, {1, 2})},
    {{2, 37, 5, 3}, {9, 37, 1, 1}, opts({1, 1}, {0, 0})},
    {{1, 16, 4, 4}, {5, 16, 3, 3}, opts({2, 2}, {0, 0})},
    {{1, 6, 3, 3}, {4, 6, 2, 2}, opts({3, 3}, {1, 1})},
};

struct Quantized {
  Tensor rows;
  std::shared_ptr<const quant::PackedQuantB> packed;
  Tensor dequantized;  // the weight the rows stand for, f32 [c_out, c_in, kh, kw]
};

Quantized quantize(const Tensor& w, Format f) {
  Quantized q;
  const int64_t n = w.size(0), k = w.numel() / n;
  q.rows = quant::quantize_tensor(w, f);
  const auto* bytes = static_cast<const uint8_t*>(q.rows.raw_data());
  q.packed = std::make_shared<const quant::PackedQuantB>(f, n, k, bytes);
  q.dequantized = Tensor::empty(w.shape());
  quant::dequantize_rows(f, bytes, n, k, q.dequantized.data<float>(), k);
  return q;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_floats() == b.to_floats();
}

// int8's only departure from the float conv of the dequantized weight: each pixel row x is
// rounded to s_x = (max(x, 0) - min(x, 0)) / 255 steps, an error of at most s_x / 2 per element,
// so |y - y_float| <= s_x / 2 * sum_k |w_k|. Bounded here with the largest s_x of any receptive
// field (the whole input's range) and the largest row sum of |w|, plus float rounding.
double int8_bound(const Tensor& x, const Tensor& wdq) {
  const auto xv = x.to_floats(), wv = wdq.to_floats();
  float lo = 0, hi = 0;
  for (float v : xv) lo = std::min(lo, v), hi = std::max(hi, v);
  const int64_t n = wdq.size(0), k = wdq.numel() / n;
  double worst = 0;
  for (int64_t o = 0; o < n; ++o) {
    double s = 0;
    for (int64_t i = 0; i < k; ++i) s += std::fabs(wv[o * k + i]);
    worst = std::max(worst, s);
  }
  return (hi - lo) / 255.0 / 2.0 * worst * 1.001 + 1e-4;
}

TEST(QuantizedConv, FastPathMatchesTheReferenceAndTheDequantizedFloatConv) {
  Generator gen(11);
  for (const Geo& g : kGeos) {
    const Tensor x = Tensor::randn(g.x, gen), w = Tensor::randn(g.w, gen);
    const Tensor bias = Tensor::randn({g.w[0]}, gen);
    for (Format f : quant::kAllFormats) {
      const Quantized q = quantize(w, f);
      NoGradGuard ng;
      const Tensor fast = nn::conv2d_quantized(x, *q.packed, g.w, bias, g.o, "c.weight");
      const Tensor ref = nn::conv2d_quantized_reference(x, f, q.rows, g.w, bias, g.o);
      const Tensor flt = conv2d(x, q.dequantized, bias, g.o);
      ASSERT_EQ(fast.shape(), flt.shape());
      const std::string what = std::string(quant::format_name(f)) + " w " + std::to_string(g.w[0]) +
                               "x" + std::to_string(g.w[1]) + "x" + std::to_string(g.w[2]) + "x" +
                               std::to_string(g.w[3]);
      if (f == Format::Int8) {
        EXPECT_TRUE(same_bits(fast, ref)) << what << ": " << max_abs_diff(fast, ref);
        EXPECT_LE(max_abs_diff(fast, flt), int8_bound(x, q.dequantized)) << what;
        EXPECT_GT(max_abs_diff(fast, flt), 0) << what << ": activations are not quantized?";
      } else {
        EXPECT_LE(max_diff_over_max(fast, ref), 2e-6) << what;
        EXPECT_LE(max_diff_over_max(fast, flt), 2e-6) << what;
      }
    }
  }
}

TEST(QuantizedConv, BitIdenticalAcrossThreadCounts) {
  Generator gen(5);
  // 2 x 20 x 20 = 800 pixel rows of k = 144: two row chunks (and q4 through its GEMM kernels).
  const Tensor x = Tensor::randn({2, 16, 20, 20}, gen), w = Tensor::randn({12, 16, 3, 3}, gen);
  const int saved = num_threads();
  for (Format f : quant::kAllFormats) {
    const Quantized q = quantize(w, f);
    NoGradGuard ng;
    std::vector<Tensor> outs;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      outs.push_back(nn::conv2d_quantized(x, *q.packed, w.shape(), Tensor(), opts({1, 1}, {1, 1}),
                                          "c.weight"));
    }
    EXPECT_TRUE(same_bits(outs[0], outs[1])) << quant::format_name(f);
    EXPECT_TRUE(same_bits(outs[0], outs[2])) << quant::format_name(f);
  }
  set_num_threads(saved);
}

TEST(QuantizedConv, Conv2dLayerRunsItAndRefusesAutogradAndGroups) {
  Generator gen(2);
  nn::Conv2d conv(6, 4, 3, opts({1, 1}, {1, 1}), /*bias=*/true);
  conv.weight = Tensor::randn({4, 6, 3, 3}, gen);
  conv.bias = Tensor::randn({4}, gen);
  const Tensor w = conv.weight;
  const Quantized q = quantize(w, Format::Q4_1);
  conv.set_quantized(q.packed, "features.conv.weight");
  const Tensor x = Tensor::randn({1, 6, 5, 5}, gen);
  {
    NoGradGuard ng;
    EXPECT_TRUE(same_bits(conv.forward(x), nn::conv2d_quantized(x, *q.packed, w.shape(), conv.bias,
                                                                conv.options, "c")));
  }
  const std::string params = message_of([&] { conv.named_parameters(); });
  EXPECT_NE(params.find("weight' is quantized"), std::string::npos) << params;
  Tensor xg = x.clone();
  xg.set_requires_grad(true);
  const std::string grad = message_of([&] { conv.forward(xg); });
  EXPECT_NE(grad.find("'features.conv.weight' is quantized (q4_1)"), std::string::npos) << grad;
  const std::string shape = message_of([&] { conv.forward(Tensor::randn({1, 5, 5, 5}, gen)); });
  EXPECT_NE(shape.find("does not match the quantized weight"), std::string::npos) << shape;
  conv.clear_quantized(w);
  EXPECT_EQ(conv.named_parameters().size(), 2u);

  Conv2dOptions grouped = opts({1, 1}, {0, 0});
  grouped.groups = 2;
  nn::Conv2d gconv(4, 4, 1, grouped, false);
  const Quantized gq = quantize(Tensor::randn({4, 2, 1, 1}, gen), Format::Int8);
  const std::string groups = message_of([&] { gconv.set_quantized(gq.packed, "g.weight"); });
  EXPECT_NE(groups.find("groups = 1 only"), std::string::npos) << groups;
}

// DenseNet with every convolution quantized (the stem too): the channels-last engine against the
// layer-by-layer forward of the same quantized model.
void check_densenet(const std::string& stem, Format f, double tol) {
  nn::DenseNetConfig c;
  c.growth_rate = 4, c.bn_size = 2, c.block_config = {2, 3}, c.num_init_features = 6;
  c.num_classes = 5, c.stem = stem;
  nn::DenseNet m(c);
  Generator gen(9);
  m.init_weights(gen);
  {
    NoGradGuard ng;
    for (auto& [name, b] : m.named_buffers()) {
      if (name.find("running_mean") != std::string::npos)
        copy_(*b, mul(Tensor::randn(b->shape(), gen), 0.3));
      if (name.find("running_var") != std::string::npos)
        copy_(*b, add(Tensor::rand(b->shape(), gen), 0.5));
    }
  }
  m.eval();
  std::vector<Quantized> keep;
  for (auto& [path, mod] : m.named_modules())
    if (auto* conv = dynamic_cast<nn::Conv2d*>(mod)) {
      keep.push_back(quantize(conv->weight, f));
      conv->set_quantized(keep.back().packed, path + ".weight");
    }
  const Tensor x = Tensor::randn({2, 3, 19, 17}, gen);  // odd sizes: floor pooling, partial bands
  NoGradGuard ng;
  const Tensor plain = m.forward({{"pixel_values", x}}).at("logits");
  m.pack_for_inference();
  const Tensor fast = m.forward({{"pixel_values", x}}).at("logits");
  const double d = max_diff_over_max(fast, plain);
  std::cout << "densenet (" << stem << " stem, " << quant::format_name(f)
            << " convs): engine vs layer-by-layer logits max diff / max " << d << "\n";
  EXPECT_LT(d, tol) << stem << " " << quant::format_name(f);
  // The engine's bits do not depend on the thread count.
  const int saved = num_threads();
  for (int t : {1, 3}) {
    set_num_threads(t);
    EXPECT_TRUE(same_bits(m.forward({{"pixel_values", x}}).at("logits"), fast))
        << stem << " " << quant::format_name(f) << " " << t << " threads";
  }
  set_num_threads(saved);
}

TEST(QuantizedConv, DenseNetEngineMatchesTheLayerByLayerForward) {
  // q4: the same products summed in another order. int8: the engine pools each transition before
  // its conv (they commute in float), so that conv quantizes other activation rows.
  for (const char* stem : {"imagenet", "small"}) {
    check_densenet(stem, Format::Q4_0, 1e-5);
    check_densenet(stem, Format::Q4_1, 1e-5);
    check_densenet(stem, Format::Int8, 1e-2);
  }
}

}  // namespace
}  // namespace kiln::testing
