#include "nn/densenet_stem_train.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/gemm.h"
#include "core/kernels/maxpool3s2_rows.h"
#include "core/op_registry.h"
#include "core/thread_pool.h"
#include "nn/densenet_stem.h"
#include "nn/densenet_train_rows.h"
#include "nn/float_buffers.h"
#include "nn/image_layers.h"

namespace kiln::nn {
namespace {

// Not in the op registry (KILN_OP), whose every entry the core op harness checks against f64
// references: this node composes registered ops (conv2d, batch_norm, relu, max_pool2d) for f32
// only, and tests/nn/densenet_stem_train_test.cpp checks it against exactly that composition.
const OpInfo kDenseNetStemTrainOp{"densenet_stem_train", true};

// Conv rows per band of the weight gradient (a band's fields and gradient stay in L2: 4 x 112
// pixels at 224^2 are 263 KB of fields), and the fixed number of partial sums the bands are
// spread over (each summed in band order, then the partials in order).
constexpr int64_t kBandRows = 4, kGroups = 8;
// Pooled rows per range of norm0's backward sums.
constexpr int64_t kSumPooledRows = 4;

thread_local std::vector<float> t_fields;
thread_local std::vector<float> t_grad;

struct StemGeometry {
  int64_t n, cin, k, stride, pad, hp, wp, h1, w1, oh, ow, cout;
  int64_t conv_pixels() const { return n * h1 * w1; }
  int64_t field() const { return k * k * cin; }
};

struct StemSaved {
  StemGeometry geo{};
  Tensor padded;  // [n, hp, wp, cin]: the pixels, channels-last, zero-bordered
  Tensor y;       // [n * h1 * w1, cout]: conv0's output
  Tensor arg;     // u8 [n * oh * ow, cout]: each pooled value's winning window position
  Stats stats;
  Tensor gamma;  // norm0's weight
};

std::vector<Tensor> stem_backward(const StemSaved& s, const Tensor& grad_out) {
  const StemGeometry& g = s.geo;
  const int64_t c = g.cout, kk = g.field(), conv_img = g.h1 * g.w1, pool_img = g.oh * g.ow;
  const Tensor go = grad_out.contiguous();
  Tensor grows = Tensor::empty({g.n * pool_img, c});
  nchw_to_rows(cf(go), g.n, c, pool_img, grows.data<float>(), c);
  const float* gr = cf(grows);
  const float* y = cf(s.y);
  const uint8_t* arg = s.arg.data<uint8_t>();
  const Stats& st = s.stats;

  // norm0's two reductions, over the pooled values that pass a gradient.
  std::vector<double> sum_g(static_cast<size_t>(c)), sum_gx(static_cast<size_t>(c));
  range_sums(
      g.n * g.oh, kSumPooledRows, c,
      [&](int64_t u0, int64_t count, double* pa, double* pb) {
        for (int64_t u = u0; u < u0 + count; ++u) {
          const int64_t img = u / g.oh, oy = u % g.oh;
          kernels::maxpool3s2_grad_sums_row(y + img * conv_img * c, g.h1, g.w1, c, oy,
                                            gr + u * g.ow * c, arg + u * g.ow * c, st.mean.data(),
                                            st.invstd.data(), pa, pb);
        }
      },
      sum_g.data(), sum_gx.data());
  Tensor dgamma = Tensor::empty({c}), dbeta = Tensor::empty({c});
  std::vector<float> k(static_cast<size_t>(c)), mean_g(k), b(k);
  const Tensor gamma = s.gamma.detach().contiguous();
  const double count = static_cast<double>(g.conv_pixels());
  for (int64_t o = 0; o < c; ++o) {
    dgamma.data<float>()[o] = static_cast<float>(sum_gx[o]);
    dbeta.data<float>()[o] = static_cast<float>(sum_g[o]);
    k[o] = cf(gamma)[o] * st.invstd[o];
    mean_g[o] = static_cast<float>(sum_g[o] / count);
    b[o] = st.invstd[o] * static_cast<float>(sum_gx[o] / count);
  }
  const kernels::StemNormGrad coef{k.data(), mean_g.data(), st.mean.data(), b.data()};

  // conv0's weight gradient, dW [cout, field] = sum over bands of gy_band^T fields_band.
  const int64_t bands_per_img = (g.h1 + kBandRows - 1) / kBandRows, bands = g.n * bands_per_img;
  const int64_t groups = std::min(kGroups, bands);
  Tensor part = Tensor::empty({groups, c, kk});
  float* pp = part.data<float>();
  const float* padded = cf(s.padded);
  parallel_for(0, groups, 1, [&](int64_t gb, int64_t ge) {
    for (int64_t grp = gb; grp < ge; ++grp)
      for (int64_t band = grp * bands / groups; band < (grp + 1) * bands / groups; ++band) {
        const int64_t img = band / bands_per_img, ya = (band % bands_per_img) * kBandRows;
        const int64_t yb = std::min(g.h1, ya + kBandRows), m = (yb - ya) * g.w1;
        float* gy = grow_scratch(t_grad, m * c);
        float* fields = grow_scratch(t_fields, m * kk);
        kernels::maxpool3s2_bn_backward_rows(y + img * conv_img * c, g.h1, g.w1, c,
                                             gr + img * pool_img * c, arg + img * pool_img * c, ya,
                                             yb, coef, gy);
        for (int64_t r = ya; r < yb; ++r)
          gather_fields(padded, g.hp, g.wp, g.cin, g.k, g.stride, img, r, g.w1,
                        fields + (r - ya) * g.w1 * kk);
        const bool first = band == grp * bands / groups;
        gemm::sgemm(true, false, c, kk, m, 1.0f, gy, c, fields, kk, first ? 0.0f : 1.0f,
                    pp + grp * c * kk, kk);
      }
  });
  std::vector<float> dw_rows(static_cast<size_t>(c * kk));  // [cout][i][j][cin]
  sum_partials(pp, groups, c * kk, dw_rows.data());
  const Tensor dw = weight_from_rows_ijc(dw_rows.data(), c, g.cin, g.k);
  return {Tensor(), dw, dgamma, dbeta};
}

}  // namespace

bool densenet_stem_train_applies(const Tensor& x, const Conv2d& conv0, const BatchNorm2d& norm0) {
  if (!grad_enabled() || x.dtype() != DType::F32 || x.dim() != 4 || x.requires_grad()) return false;
  const Tensor& w = conv0.weight;
  const Conv2dOptions& o = conv0.options;
  if (conv0.quantized() || conv0.bias.defined() || w.dtype() != DType::F32 || w.dim() != 4 ||
      w.size(1) != x.size(1) || w.size(2) != w.size(3) || o.groups != 1 ||
      o.dilation != std::array<int64_t, 2>{1, 1} || o.stride[0] != o.stride[1] ||
      o.padding[0] != o.padding[1] || o.stride[0] < 1 || o.padding[0] < 0)
    return false;
  if (!plain_training_norm(norm0, norm0.eps) || norm0.weight.size(0) != w.size(0)) return false;
  const int64_t k = w.size(2), p = o.padding[0], s = o.stride[0];
  if (x.size(2) + 2 * p < k || x.size(3) + 2 * p < k) return false;  // the op path names it
  const int64_t h1 = (x.size(2) + 2 * p - k) / s + 1, w1 = (x.size(3) + 2 * p - k) / s + 1;
  return x.size(0) * h1 * w1 >= 2;
}

Tensor densenet_stem_train(const Tensor& x, const Conv2d& conv0, const BatchNorm2d& norm0) {
  KILN_CHECK(densenet_stem_train_applies(x, conv0, norm0),
             "densenet: the fused training stem does not apply to input ", x.describe());
  auto saved = std::make_shared<StemSaved>();
  StemSaved& s = *saved;
  StemGeometry& g = s.geo;
  const Tensor w = conv0.weight.detach().contiguous();
  g.n = x.size(0), g.cin = x.size(1), g.k = w.size(2), g.cout = w.size(0);
  g.stride = conv0.options.stride[0], g.pad = conv0.options.padding[0];
  g.hp = x.size(2) + 2 * g.pad, g.wp = x.size(3) + 2 * g.pad;
  g.h1 = (g.hp - g.k) / g.stride + 1, g.w1 = (g.wp - g.k) / g.stride + 1;
  g.oh = (g.h1 - 1) / 2 + 1, g.ow = (g.w1 - 1) / 2 + 1;
  const int64_t c = g.cout, kk = g.field(), conv_img = g.h1 * g.w1, pool_img = g.oh * g.ow;

  s.padded = padded_pixels(x.detach(), g.pad);
  const float* padded = cf(s.padded);
  const std::vector<float> wrows = weight_rows_ijc(w);
  const gemm::PackedB wp(/*trans_b=*/true, kk, c, wrows.data(), kk);
  s.y = Tensor::empty({g.conv_pixels(), c});
  float* y = s.y.data<float>();
  parallel_for(0, g.n * g.h1, 1, [&](int64_t rb, int64_t re) {
    float* a = grow_scratch(t_fields, g.w1 * kk);
    for (int64_t r = rb; r < re; ++r) {
      gather_fields(padded, g.hp, g.wp, g.cin, g.k, g.stride, r / g.h1, r % g.h1, g.w1, a);
      gemm::sgemm_packed_b(false, g.w1, 1.0f, a, kk, wp, 0.0f, y + r * g.w1 * c, c);
    }
  });

  s.stats = Stats(c);
  compute_stats(y, c, g.conv_pixels(), 0, c, norm0.eps, s.stats);
  s.gamma = norm0.weight;
  std::vector<float> scale, shift;
  {
    const Tensor gm = s.gamma.detach().contiguous(), bt = norm0.bias.detach().contiguous();
    affine(s.stats, cf(gm), cf(bt), c, scale, shift);
  }
  Tensor pooled = Tensor::empty({g.n * pool_img, c});
  s.arg = Tensor::empty({g.n * pool_img, c}, DType::U8);
  uint8_t* arg = s.arg.data<uint8_t>();
  parallel_for(0, g.n * g.oh, 2, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r)
      kernels::bn_relu_maxpool3s2_row(y + (r / g.oh) * conv_img * c, g.h1, g.w1, c, scale.data(),
                                      shift.data(), r % g.oh, pooled.data<float>() + r * g.ow * c,
                                      c, arg + r * g.ow * c);
  });
  Tensor out = Tensor::empty({g.n, c, g.oh, g.ow});
  rows_to_nchw(cf(pooled), c, g.n, c, pool_img, out.data<float>());
  norm0.track_batch(s.stats.mean.data(), s.stats.var.data(), g.conv_pixels());

  const std::vector<Tensor> inputs = {x, conv0.weight, norm0.weight, norm0.bias};
  if (!needs_grad(inputs)) return out;
  // norm0's weight is the one input backward reads: an in-place write to it before backward is
  // caught, as batch_norm's record would catch it.
  return record(kDenseNetStemTrainOp, out, inputs, {&saved->gamma},
                [saved](const Tensor& grad) { return stem_backward(*saved, grad); });
}

}  // namespace kiln::nn
