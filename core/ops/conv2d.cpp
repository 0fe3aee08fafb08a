// conv2d: argument checks, output geometry and the autograd record; the arithmetic is in
// core/kernels/conv2d_cpu.h. KILN_CONV_REFERENCE=1 in the environment routes every call through
// the plain reference loops (for debugging a suspected fast-path bug in a whole model).
#include <cstdlib>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/dispatch.h"
#include "core/kernels/conv2d_cpu.h"
#include "core/op_registry.h"
#include "core/ops/image_op_util.h"

namespace kiln {

KILN_OP(kConv2dOp, "conv2d", true);

namespace {

using image_ops::detached_contiguous;

bool use_reference_path() {
  static const bool on = [] {
    const char* e = std::getenv("KILN_CONV_REFERENCE");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

kernels::ConvGeometry geometry(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  image_ops::check_nchw(x, "conv2d");
  KILN_CHECK(w.dim() == 4, "conv2d: expected a weight [Cout, Cin/groups, kh, kw], got ",
             w.describe());
  KILN_CHECK(w.dtype() == x.dtype(), "conv2d: weight ", w.describe(), " does not match input ",
             x.describe());
  KILN_CHECK(o.groups >= 1, "conv2d: groups must be >= 1, got ", o.groups);
  for (int d = 0; d < 2; ++d) {
    KILN_CHECK(o.stride[d] >= 1 && o.dilation[d] >= 1 && o.padding[d] >= 0,
               "conv2d: stride and dilation must be >= 1 and padding >= 0");
  }
  kernels::ConvGeometry g{};
  g.n = x.shape()[0], g.cin = x.shape()[1], g.h = x.shape()[2], g.w = x.shape()[3];
  g.cout = w.shape()[0], g.kh = w.shape()[2], g.kw = w.shape()[3];
  g.sh = o.stride[0], g.sw = o.stride[1], g.ph = o.padding[0], g.pw = o.padding[1];
  g.dh = o.dilation[0], g.dw = o.dilation[1], g.groups = o.groups;
  KILN_CHECK(g.cin % g.groups == 0 && g.cout % g.groups == 0 && w.shape()[1] * g.groups == g.cin,
             "conv2d: input ", x.describe(), " and weight ", w.describe(),
             " do not agree with groups=", g.groups,
             " (need Cin = weight.shape[1] * groups and Cout divisible by groups)");
  const int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  KILN_CHECK(g.h + 2 * g.ph >= eh && g.w + 2 * g.pw >= ew, "conv2d: the padded input ",
             x.describe(), " is smaller than the (dilated) kernel ", w.describe());
  g.oh = (g.h + 2 * g.ph - eh) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - ew) / g.sw + 1;
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
              const Conv2dOptions& options) {
  const kernels::ConvGeometry g = geometry(x_in, w_in, options);
  if (b_in.defined()) {
    KILN_CHECK(b_in.dim() == 1 && b_in.shape()[0] == g.cout && b_in.dtype() == x_in.dtype(),
               "conv2d: bias must be [", g.cout, "] of the input's dtype, got ", b_in.describe());
  }
  Tensor x = detached_contiguous(x_in), w = detached_contiguous(w_in),
         b = detached_contiguous(b_in);
  const DType dt = x_in.dtype();
  Tensor out = Tensor::empty({g.n, g.cout, g.oh, g.ow}, dt);
  const bool ref = use_reference_path();
  dispatch_floating(dt, "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel() == 0) return;
    const T* bp = b.defined() ? b.data<T>() : nullptr;
    if (ref)
      kernels::conv2d_forward_reference<T>(g, x.data<T>(), w.data<T>(), bp, out.data<T>());
    else
      kernels::conv2d_forward<T>(g, x.data<T>(), w.data<T>(), bp, out.data<T>());
  });
  if (!needs_grad({&x_in, &w_in, &b_in})) return out;
  const bool gx = x_in.requires_grad(), gw = w_in.requires_grad(),
             gb = b_in.defined() && b_in.requires_grad();
  return record(
      kConv2dOp, out, {x_in, w_in, b_in}, {&x, &w}, [=](const Tensor& grad) -> std::vector<Tensor> {
        Tensor gy = grad.contiguous();
        Tensor dx = gx ? Tensor::empty(x.shape(), dt) : Tensor();
        Tensor dw = gw ? Tensor::empty(w.shape(), dt) : Tensor();
        Tensor db = gb ? Tensor::empty({g.cout}, dt) : Tensor();
        dispatch_floating(dt, "conv2d", [&](auto tag) {
          using T = typename decltype(tag)::type;
          auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
          if (gy.numel() == 0) {  // no output: every gradient is zero
            for (const Tensor* t : {&dx, &dw, &db}) image_ops::zero_fill(*t);
            return;
          }
          if (ref)
            kernels::conv2d_backward_reference<T>(g, ptr(x), ptr(w), ptr(gy), ptr(dx), ptr(dw),
                                                  ptr(db));
          else
            kernels::conv2d_backward<T>(g, ptr(x), ptr(w), ptr(gy), ptr(dx), ptr(dw), ptr(db));
        });
        return {dx, dw, db};
      });
}

}  // namespace kiln
