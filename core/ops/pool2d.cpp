// max_pool2d, avg_pool2d and adaptive_avg_pool2d: checks, torch's output sizes and the autograd
// records; the arithmetic is in core/kernels/pool2d_cpu.h.
#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/dispatch.h"
#include "core/kernels/pool2d_cpu.h"
#include "core/op_registry.h"
#include "core/ops/image_op_util.h"

namespace kiln {

KILN_OP(kMaxPool2dOp, "max_pool2d", true);
KILN_OP(kAvgPool2dOp, "avg_pool2d", true);
KILN_OP(kAdaptiveAvgPool2dOp, "adaptive_avg_pool2d", true);

namespace {

using image_ops::detached_contiguous;

// torch's pooling_output_shape: with ceil_mode the last window may hang over the end, but not
// start inside the right padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, bool ceil_mode) {
  int64_t out = (in + 2 * pad - (k - 1) - 1 + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

kernels::PoolGeometry pool_geometry(const Tensor& x, const Pool2dOptions& o, const char* op) {
  image_ops::check_nchw(x, op);
  kernels::PoolGeometry g{};
  g.planes = x.shape()[0] * x.shape()[1], g.h = x.shape()[2], g.w = x.shape()[3];
  g.kh = o.kernel[0], g.kw = o.kernel[1];
  g.sh = o.stride[0] ? o.stride[0] : g.kh, g.sw = o.stride[1] ? o.stride[1] : g.kw;
  g.ph = o.padding[0], g.pw = o.padding[1];
  g.count_include_pad = o.count_include_pad;
  KILN_CHECK(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1, op,
             ": kernel and stride must be >= 1");
  KILN_CHECK(g.ph >= 0 && g.pw >= 0 && 2 * g.ph <= g.kh && 2 * g.pw <= g.kw, op,
             ": padding must be between 0 and half the kernel size, got padding (", g.ph, ", ",
             g.pw, ") for kernel (", g.kh, ", ", g.kw, ")");
  g.oh = pooled_size(g.h, g.kh, g.ph, g.sh, o.ceil_mode);
  g.ow = pooled_size(g.w, g.kw, g.pw, g.sw, o.ceil_mode);
  KILN_CHECK(g.oh >= 1 && g.ow >= 1, op, ": input ", x.describe(), " is too small for kernel (",
             g.kh, ", ", g.kw, ") with padding (", g.ph, ", ", g.pw, ")");
  return g;
}

Shape out_shape(const Tensor& x, const kernels::PoolGeometry& g) {
  return {x.shape()[0], x.shape()[1], g.oh, g.ow};
}

// The average pools differ only in their kernels: run `fwd` and record `bwd`.
template <typename Fwd, typename Bwd>
Tensor average_pool(const OpInfo& op, const Tensor& x_in, const kernels::PoolGeometry& g, Fwd fwd,
                    Bwd bwd) {
  Tensor x = detached_contiguous(x_in);
  const DType dt = x_in.dtype();
  Tensor out = Tensor::empty(out_shape(x_in, g), dt);
  dispatch_floating(dt, op.name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel()) fwd(g, x.data<T>(), out.data<T>());
  });
  if (!needs_grad({&x_in})) return out;
  const Shape in_shape = x_in.shape();
  return record(op, out, {x_in}, [=](const Tensor& grad) -> std::vector<Tensor> {
    Tensor gy = grad.contiguous();
    Tensor dx = Tensor::empty(in_shape, dt);
    dispatch_floating(dt, op.name, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (dx.numel()) bwd(g, gy.data<T>(), dx.data<T>());
    });
    return {dx};
  });
}

}  // namespace

Tensor max_pool2d(const Tensor& x_in, const Pool2dOptions& options) {
  const kernels::PoolGeometry g = pool_geometry(x_in, options, "max_pool2d");
  Tensor x = detached_contiguous(x_in);
  const DType dt = x_in.dtype();
  Tensor out = Tensor::empty(out_shape(x_in, g), dt);
  Tensor argmax = Tensor::empty(out.shape(), DType::I64);
  dispatch_floating(dt, "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel())
      kernels::max_pool2d_forward<T>(g, x.data<T>(), out.data<T>(), argmax.data<int64_t>());
  });
  if (!needs_grad({&x_in})) return out;
  const Shape in_shape = x_in.shape();
  return record(kMaxPool2dOp, out, {x_in}, [=](const Tensor& grad) -> std::vector<Tensor> {
    Tensor gy = grad.contiguous();
    Tensor dx = Tensor::empty(in_shape, dt);
    dispatch_floating(dt, "max_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (dx.numel())
        kernels::max_pool2d_backward<T>(g, gy.data<T>(), argmax.data<int64_t>(), dx.data<T>());
    });
    return {dx};
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  const kernels::PoolGeometry g = pool_geometry(x, options, "avg_pool2d");
  return average_pool(
      kAvgPool2dOp, x, g,
      [](const auto& gg, const auto* xp, auto* yp) { kernels::avg_pool2d_forward(gg, xp, yp); },
      [](const auto& gg, const auto* gyp, auto* gxp) {
        kernels::avg_pool2d_backward(gg, gyp, gxp);
      });
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  image_ops::check_nchw(x, "adaptive_avg_pool2d");
  KILN_CHECK(out_h >= 1 && out_w >= 1, "adaptive_avg_pool2d: output size must be >= 1, got (",
             out_h, ", ", out_w, ")");
  KILN_CHECK(x.shape()[2] >= 1 && x.shape()[3] >= 1, "adaptive_avg_pool2d: empty spatial input ",
             x.describe());
  kernels::PoolGeometry g{};
  g.planes = x.shape()[0] * x.shape()[1], g.h = x.shape()[2], g.w = x.shape()[3];
  g.oh = out_h, g.ow = out_w;
  return average_pool(
      kAdaptiveAvgPool2dOp, x, g,
      [](const auto& gg, const auto* xp, auto* yp) {
        kernels::adaptive_avg_pool2d_forward(gg, xp, yp);
      },
      [](const auto& gg, const auto* gyp, auto* gxp) {
        kernels::adaptive_avg_pool2d_backward(gg, gyp, gxp);
      });
}

}  // namespace kiln
