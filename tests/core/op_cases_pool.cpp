// Harness cases for max_pool2d, avg_pool2d (padding, ceil_mode, count_include_pad, rectangular
// kernels and strides, DenseNet's stem and transition pools) and adaptive_avg_pool2d (down, global
// and up-sampling windows). References are naive f64 loops over torch's definitions.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/conv_ops.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

int64_t ref_out(int64_t in, int64_t k, int64_t p, int64_t s, bool ceil_mode) {
  const double v = static_cast<double>(in + 2 * p - k) / s;
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(v) : std::floor(v)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

Ref ref_pool(const Ref& x, const Pool2dOptions& o, bool is_max) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  const int64_t kh = o.kernel[0], kw = o.kernel[1];
  const int64_t sh = o.stride[0] ? o.stride[0] : kh, sw = o.stride[1] ? o.stride[1] : kw;
  const int64_t oh = ref_out(h, kh, o.padding[0], sh, o.ceil_mode);
  const int64_t ow = ref_out(w, kw, o.padding[1], sw, o.ceil_mode);
  Ref y = Ref::zeros({n, c, oh, ow});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t y0 = oy * sh - o.padding[0], x0 = ox * sw - o.padding[1];
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t count = 0, padded = 0;
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iy = y0 + i, ix = x0 + j;
              // Inside the padded input (what count_include_pad counts)?
              if (iy < h + o.padding[0] && ix < w + o.padding[1]) ++padded;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const double v = x.at({a, ch, iy, ix});
              best = std::max(best, v);
              sum += v;
              ++count;
            }
          y.at({a, ch, oy, ox}) =
              is_max ? best : sum / static_cast<double>(o.count_include_pad ? padded : count);
        }
  return y;
}

Ref ref_adaptive(const Ref& x, int64_t oh, int64_t ow) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  Ref y = Ref::zeros({n, c, oh, ow});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t y0 = static_cast<int64_t>(std::floor(double(oy) * h / oh));
          const int64_t y1 = static_cast<int64_t>(std::ceil(double(oy + 1) * h / oh));
          const int64_t x0 = static_cast<int64_t>(std::floor(double(ox) * w / ow));
          const int64_t x1 = static_cast<int64_t>(std::ceil(double(ox + 1) * w / ow));
          double s = 0;
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) s += x.at({a, ch, iy, ix});
          y.at({a, ch, oy, ox}) = s / double((y1 - y0) * (x1 - x0));
        }
  return y;
}

Pool2dOptions pool(std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 2> p,
                   bool ceil_mode, bool include_pad = true) {
  Pool2dOptions o;
  o.kernel = k, o.stride = s, o.padding = p, o.ceil_mode = ceil_mode;
  o.count_include_pad = include_pad;
  return o;
}

KILN_OP_CASES(pool_cases) {
  struct P {
    const char* name;
    Shape x;
    Pool2dOptions o;
  };
  const P ps[] = {
      {"stem_3s2p1", {2, 3, 7, 6}, pool({3, 3}, {2, 2}, {1, 1}, false)},
      {"ceil_mode", {1, 2, 5, 5}, pool({2, 2}, {2, 2}, {0, 0}, true)},
      {"ceil_mode_pad", {1, 2, 6, 7}, pool({3, 3}, {2, 2}, {1, 1}, true)},
      {"rect_kernel_stride", {2, 2, 5, 7}, pool({2, 3}, {1, 2}, {1, 1}, false)},
      {"default_stride_transition", {2, 3, 6, 5}, pool({2, 2}, {0, 0}, {0, 0}, false)},
      {"exclude_pad", {1, 3, 6, 6}, pool({3, 3}, {2, 2}, {1, 1}, true, false)},
      {"empty_batch", {0, 2, 4, 4}, pool({2, 2}, {2, 2}, {0, 0}, false)},
  };
  for (const auto& p : ps) {
    const Pool2dOptions o = p.o;
    // Distinct values keep max pooling's argmax away from ties (finite differences need that).
    if (o.count_include_pad)  // count_include_pad changes only avg_pool2d
      cases.push_back({"max_pool2d",
                       p.name,
                       {S(p.x)},
                       [=](const std::vector<Tensor>& x) { return max_pool2d(x[0], o); },
                       [=](const std::vector<Ref>& r) { return ref_pool(r[0], o, true); }});
    cases.push_back({"avg_pool2d",
                     p.name,
                     {F(p.x)},
                     [=](const std::vector<Tensor>& x) { return avg_pool2d(x[0], o); },
                     [=](const std::vector<Ref>& r) { return ref_pool(r[0], o, false); }});
  }
  struct A {
    const char* name;
    Shape x;
    int64_t oh, ow;
  };
  const A as[] = {{"down_uneven", {2, 3, 7, 5}, 3, 2},
                  {"global", {2, 4, 3, 5}, 1, 1},
                  {"up", {1, 2, 2, 3}, 4, 5},
                  {"identity", {1, 1, 3, 3}, 3, 3}};
  for (const auto& a : as) {
    const int64_t oh = a.oh, ow = a.ow;
    cases.push_back(
        {"adaptive_avg_pool2d",
         a.name,
         {F(a.x)},
         [=](const std::vector<Tensor>& x) { return adaptive_avg_pool2d(x[0], oh, ow); },
         [=](const std::vector<Ref>& r) { return ref_adaptive(r[0], oh, ow); }});
  }
}

}  // namespace
}  // namespace kiln::testing
