// Harness cases for conv2d (strides, padding, dilation, groups, depthwise, 1x1 as GEMM and via
// im2col, 7x7 stem-like, no bias, empty batch) and batch_norm (training with batch statistics,
// eval with running statistics, with and without affine parameters, 2-D and 4-D inputs). The
// references are naive f64 loops over the definitions.
#include <cmath>

#include "core/conv_ops.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  Conv2dOptions o;
};

Ref ref_conv2d(const Ref& x, const Ref& w, const Ref* b, const Conv2dOptions& o) {
  const int64_t n = x.shape[0], cin = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t cout = w.shape[0], cing = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  const int64_t oh = (h + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
  const int64_t ow = (wd + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
  const int64_t coutg = cout / o.groups;
  (void)cin;
  Ref y = Ref::zeros({n, cout, oh, ow});
  for (int64_t in = 0; in < n; ++in)
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double s = b ? b->v[co] : 0.0;
          for (int64_t c = 0; c < cing; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = oy * o.stride[0] - o.padding[0] + i * o.dilation[0];
                const int64_t ix = ox * o.stride[1] - o.padding[1] + j * o.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += x.at({in, (co / coutg) * cing + c, iy, ix}) * w.at({co, c, i, j});
              }
          y.at({in, co, oy, ox}) = s;
        }
  return y;
}

KILN_OP_CASES(conv2d_cases) {
  auto opt = [](std::array<int64_t, 2> s, std::array<int64_t, 2> p, std::array<int64_t, 2> d,
                int64_t g) {
    Conv2dOptions o;
    o.stride = s, o.padding = p, o.dilation = d, o.groups = g;
    return o;
  };
  const ConvCase cs[] = {
      {"3x3_pad1_bias", {2, 3, 5, 6}, {4, 3, 3, 3}, true, opt({1, 1}, {1, 1}, {1, 1}, 1)},
      {"odd_stride_pad_dilation", {1, 2, 7, 5}, {3, 2, 3, 2}, true, opt({2, 1}, {1, 0}, {1, 2}, 1)},
      {"groups2_no_bias", {2, 4, 5, 5}, {6, 2, 3, 3}, false, opt({1, 1}, {1, 1}, {1, 1}, 2)},
      {"depthwise", {1, 3, 5, 4}, {3, 1, 3, 3}, true, opt({2, 2}, {1, 1}, {1, 1}, 3)},
      {"1x1_gemm", {2, 5, 4, 3}, {3, 5, 1, 1}, true, opt({1, 1}, {0, 0}, {1, 1}, 1)},
      {"1x1_no_bias_single_pixel",
       {3, 4, 1, 1},
       {2, 4, 1, 1},
       false,
       opt({1, 1}, {0, 0}, {1, 1}, 1)},
      {"1x1_stride2_im2col", {1, 3, 5, 5}, {2, 3, 1, 1}, false, opt({2, 2}, {0, 0}, {1, 1}, 1)},
      {"7x7_stride2_pad3", {1, 3, 9, 8}, {2, 3, 7, 7}, false, opt({2, 2}, {3, 3}, {1, 1}, 1)},
      {"empty_batch", {0, 2, 4, 4}, {3, 2, 3, 3}, true, opt({1, 1}, {1, 1}, {1, 1}, 1)},
  };
  for (const auto& c : cs) {
    std::vector<InputSpec> in = {F(c.x), F(c.w)};
    if (c.bias) in.push_back(F({c.w[0]}));
    const bool hb = c.bias;
    const Conv2dOptions o = c.o;
    cases.push_back(
        {"conv2d", c.name, in,
         [=](const std::vector<Tensor>& x) { return conv2d(x[0], x[1], hb ? x[2] : Tensor(), o); },
         [=](const std::vector<Ref>& r) {
           return ref_conv2d(r[0], r[1], hb ? &r[2] : nullptr, o);
         }});
  }
}

// Per-channel normalisation with the given (or the batch's biased) statistics.
Ref ref_batch_norm(const Ref& x, const Ref* w, const Ref* b, const Ref* rm, const Ref* rv,
                   double eps) {
  const int64_t n = x.shape[0], c = x.shape[1];
  const int64_t inner = x.numel() / std::max<int64_t>(n * c, 1);
  Ref y = Ref::zeros(x.shape);
  for (int64_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    if (rm) {
      mean = rm->v[ch], var = rv->v[ch];
    } else {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) mean += x.v[(i * c + ch) * inner + j];
      mean /= n * inner;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          const double d = x.v[(i * c + ch) * inner + j] - mean;
          var += d * d;
        }
      var /= n * inner;
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t k = (i * c + ch) * inner + j;
        double v = (x.v[k] - mean) / std::sqrt(var + eps);
        if (w) v *= w->v[ch];
        if (b) v += b->v[ch];
        y.v[k] = v;
      }
  }
  return y;
}

KILN_OP_CASES(batch_norm_cases) {
  struct B {
    const char* name;
    Shape x;
    bool affine, training;
  };
  const B bs[] = {
      {"train_affine", {3, 4, 5, 2}, true, true}, {"train_no_affine", {2, 3, 3, 3}, false, true},
      {"train_2d", {6, 3}, true, true},           {"train_single_pixel", {5, 2, 1, 1}, true, true},
      {"eval_affine", {2, 3, 4, 3}, true, false}, {"eval_no_affine", {3, 2, 2, 5}, false, false}};
  // batch_norm, and batch_norm_relu (ReLU fused in) on the same cases against relu(reference).
  for (const bool with_relu : {false, true})
    for (const auto& bc : bs) {
      const int64_t c = bc.x[1];
      std::vector<InputSpec> in = {F(bc.x)};
      if (bc.affine) in.push_back(F({c})), in.push_back(F({c}));
      if (!bc.training) in.push_back(F({c}, false)), in.push_back(P({c}, false));
      const bool affine = bc.affine, training = bc.training;
      const auto op = with_relu ? batch_norm_relu : batch_norm;
      cases.push_back({with_relu ? "batch_norm_relu" : "batch_norm", bc.name, in,
                       [=](const std::vector<Tensor>& x) {
                         const size_t s = affine ? 3 : 1;
                         Tensor w = affine ? x[1] : Tensor(), b = affine ? x[2] : Tensor();
                         if (training) {
                           // Running statistics are updated in place: kept out of the harness's
                           // inputs.
                           Tensor rm = Tensor::zeros({c}, x[0].dtype()),
                                  rv = Tensor::ones({c}, x[0].dtype());
                           return op(x[0], w, b, rm, rv, true, 0.1, 1e-5);
                         }
                         return op(x[0], w, b, x[s], x[s + 1], false, 0.1, 1e-5);
                       },
                       [=](const std::vector<Ref>& r) {
                         const size_t s = affine ? 3 : 1;
                         Ref y = ref_batch_norm(
                             r[0], affine ? &r[1] : nullptr, affine ? &r[2] : nullptr,
                             training ? nullptr : &r[s], training ? nullptr : &r[s + 1], 1e-5);
                         if (with_relu)
                           for (double& v : y.v) v = v > 0 ? v : 0.0;
                         return y;
                       }});
    }
}

}  // namespace
}  // namespace kiln::testing
