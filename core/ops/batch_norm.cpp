// batch_norm: checks, the running-statistics update (training) and the autograd record; the
// arithmetic is in core/kernels/batch_norm_cpu.h. The backward reads private copies of the mean
// and invstd it normalised with, so a later update of the running statistics (the next training
// forward, an optimizer's in-place write) cannot change a pending gradient.
#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/dispatch.h"
#include "core/kernels/batch_norm_cpu.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/ops/image_op_util.h"

namespace kiln {

KILN_OP(kBatchNormOp, "batch_norm", true);
KILN_OP(kBatchNormReluOp, "batch_norm_relu", true);

namespace {

using image_ops::detached_contiguous;

void check_channel_tensor(const Tensor& t, const Tensor& x, int64_t c, const char* what) {
  if (!t.defined()) return;
  KILN_CHECK(t.dim() == 1 && t.shape()[0] == c && t.dtype() == x.dtype(), "batch_norm: ", what,
             " must be [", c, "] of the input's dtype, got ", t.describe(), " for input ",
             x.describe());
}

// x [N, C, ...] as batch norm sees it: n samples, c channels of `inner` values each. Checks the
// rank and dtype, naming the op.
struct ChannelLayout {
  int64_t n, c, inner;
};
ChannelLayout channel_layout(const Tensor& x, const char* op) {
  KILN_CHECK(x.dim() >= 2, op, ": expected an input [N, C, ...], got ", x.describe());
  KILN_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, op,
             ": expected an f32 or f64 input, got ", x.describe());
  const int64_t n = x.shape()[0], c = x.shape()[1];
  return {n, c, c == 0 || n == 0 ? 0 : x.numel() / (n * c)};
}

// running = (1 - momentum) * running + momentum * stat, in place, as one write.
template <typename T>
void update_running(const Tensor& running, const T* stat, double momentum, double factor) {
  begin_in_place_write(running, "batch_norm");
  T* r = running.data<T>();
  const int64_t c = running.numel();
  for (int64_t i = 0; i < c; ++i)
    r[i] = static_cast<T>((1 - momentum) * r[i] + momentum * (stat[i] * factor));
}

// batch_norm, and with relu batch_norm_relu: ReLU applied in the same pass, its backward fused
// into batch norm's from the saved output (no normalised-but-not-rectified tensor is kept).
Tensor batch_norm_impl(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum, double eps, bool relu,
                       const BatchStatistics* known = nullptr) {
  const auto [n, c, inner] = channel_layout(x_in, "batch_norm");
  check_channel_tensor(w_in, x_in, c, "weight");
  check_channel_tensor(b_in, x_in, c, "bias");
  check_channel_tensor(running_mean, x_in, c, "running_mean");
  check_channel_tensor(running_var, x_in, c, "running_var");
  KILN_CHECK(eps >= 0, "batch_norm: eps must be non-negative, got ", eps);
  const int64_t m = n * inner;
  if (training) {
    KILN_CHECK(m > 1, "batch_norm: training needs more than 1 value per channel, got input ",
               x_in.describe());
  } else {
    KILN_CHECK(running_mean.defined() && running_var.defined(),
               "batch_norm: eval mode needs running_mean and running_var");
  }
  for (const Tensor* r : {&running_mean, &running_var}) {
    // Training writes them in place; eval only reads them (any layout).
    KILN_CHECK(!r->defined() || !training || (r->is_contiguous() && !r->requires_grad()),
               "batch_norm: running statistics updated in training must be contiguous buffers "
               "without grad");
  }
  if (known) {
    KILN_CHECK(training, "batch_norm: known batch statistics are for training mode");
    check_channel_tensor(known->mean, x_in, c, "known batch mean");
    check_channel_tensor(known->var, x_in, c, "known batch variance");
    KILN_CHECK(known->mean.defined() && known->var.defined(),
               "batch_norm: known batch statistics need both the mean and the variance");
  }
  const DType dt = x_in.dtype();
  Tensor x = detached_contiguous(x_in), w = detached_contiguous(w_in),
         b = detached_contiguous(b_in);
  Tensor mean = Tensor::empty({c}, dt), invstd = Tensor::empty({c}, dt);
  Tensor out = Tensor::empty(x_in.shape(), dt);
  dispatch_floating(dt, "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* mu = mean.data<T>();
    T* is = invstd.data<T>();
    if (training) {
      Tensor var = Tensor::empty({c}, dt);
      T* v = var.data<T>();
      if (known) {
        const Tensor km = detached_contiguous(known->mean), kv = detached_contiguous(known->var);
        std::copy(km.data<T>(), km.data<T>() + c, mu);
        std::copy(kv.data<T>(), kv.data<T>() + c, v);
      } else {
        kernels::batch_norm_stats<T>(x.data<T>(), n, c, inner, mu, v);
      }
      for (int64_t i = 0; i < c; ++i) is[i] = static_cast<T>(1.0 / std::sqrt(double(v[i]) + eps));
      NoGradGuard ng;
      if (running_mean.defined()) update_running<T>(running_mean, mu, momentum, 1.0);
      if (running_var.defined())
        update_running<T>(running_var, v, momentum, static_cast<double>(m) / (m - 1));
    } else {
      const Tensor rmc = detached_contiguous(running_mean), rvc = detached_contiguous(running_var);
      const T* rm = rmc.data<T>();
      const T* rv = rvc.data<T>();
      for (int64_t i = 0; i < c; ++i) {
        mu[i] = rm[i];
        is[i] = static_cast<T>(1.0 / std::sqrt(double(rv[i]) + eps));
      }
    }
    if (out.numel() == 0) return;
    kernels::batch_norm_forward<T>(x.data<T>(), n, c, inner, mu, is,
                                   w.defined() ? w.data<T>() : nullptr,
                                   b.defined() ? b.data<T>() : nullptr, out.data<T>(), relu);
  });
  if (!needs_grad({&x_in, &w_in, &b_in})) return out;
  // The output, for ReLU's mask: a detached alias (saved, so an in-place write to the output
  // before backward is caught by the version check).
  const Tensor y = relu ? out.detach() : Tensor();
  const bool gx = x_in.requires_grad(), gw = w_in.defined() && w_in.requires_grad(),
             gb = b_in.defined() && b_in.requires_grad();
  return record(relu ? kBatchNormReluOp : kBatchNormOp, out, {x_in, w_in, b_in}, {&x, &w, &y},
                [=](const Tensor& grad) -> std::vector<Tensor> {
                  Tensor g = grad.contiguous();
                  Tensor dx = gx ? Tensor::empty(x.shape(), dt) : Tensor();
                  Tensor dw = gw ? Tensor::empty({c}, dt) : Tensor();
                  Tensor db = gb ? Tensor::empty({c}, dt) : Tensor();
                  dispatch_floating(dt, "batch_norm", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
                    kernels::batch_norm_backward<T>(ptr(g), ptr(x), n, c, inner, ptr(mean),
                                                    ptr(invstd), ptr(w), training, ptr(dx), ptr(dw),
                                                    ptr(db), ptr(y));
                  });
                  return {dx, dw, db};
                });
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps,
                         false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, true);
}

Tensor batch_norm_relu_known(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var, double momentum,
                             double eps, const BatchStatistics& known) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, true, momentum, eps, true,
                         &known);
}

BatchStatistics batch_statistics(const Tensor& x_in) {
  const auto [n, c, inner] = channel_layout(x_in, "batch_statistics");
  const Tensor x = detached_contiguous(x_in);
  BatchStatistics s{Tensor::empty({c}, x.dtype()), Tensor::empty({c}, x.dtype())};
  dispatch_floating(x.dtype(), "batch_statistics", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kernels::batch_norm_stats<T>(x.data<T>(), n, c, inner, s.mean.data<T>(), s.var.data<T>());
  });
  return s;
}

BatchStatistics concat_statistics(const std::vector<BatchStatistics>& parts) {
  NoGradGuard ng;
  std::vector<Tensor> means, vars;
  for (const BatchStatistics& p : parts) means.push_back(p.mean), vars.push_back(p.var);
  return {concat(means, 0), concat(vars, 0)};
}

FoldedConv fold_batch_norm_into_conv(const Tensor& conv_weight, const Tensor& conv_bias,
                                     const Tensor& bn_weight, const Tensor& bn_bias,
                                     const Tensor& running_mean, const Tensor& running_var,
                                     double eps) {
  KILN_CHECK(conv_weight.dim() == 4, "fold_batch_norm_into_conv: expected a conv weight, got ",
             conv_weight.describe());
  const int64_t cout = conv_weight.shape()[0];
  for (const Tensor* t : {&conv_bias, &bn_weight, &bn_bias, &running_mean, &running_var}) {
    KILN_CHECK(!t->defined() || (t->dim() == 1 && t->shape()[0] == cout),
               "fold_batch_norm_into_conv: per-channel tensors must be [", cout, "], got ",
               t->describe());
  }
  NoGradGuard ng;
  // In f64, then rounded once: the folded weights are as close to the exact product as f32 allows.
  auto vec = [&](const Tensor& t, double dflt) {
    return t.defined() ? t.to_vector() : std::vector<double>(static_cast<size_t>(cout), dflt);
  };
  const auto gamma = vec(bn_weight, 1.0), beta = vec(bn_bias, 0.0), mu = vec(running_mean, 0.0),
             var = vec(running_var, 1.0), b0 = vec(conv_bias, 0.0);
  std::vector<double> w = conv_weight.to_vector(), bias(static_cast<size_t>(cout));
  const int64_t per = cout ? conv_weight.numel() / cout : 0;
  for (int64_t o = 0; o < cout; ++o) {
    const double s = gamma[o] / std::sqrt(var[o] + eps);
    for (int64_t k = 0; k < per; ++k) w[o * per + k] *= s;
    bias[o] = beta[o] + (b0[o] - mu[o]) * s;
  }
  const DType dt = conv_weight.dtype();
  return {Tensor::from_vector(w, conv_weight.shape(), dt), Tensor::from_vector(bias, {cout}, dt)};
}

void batch_norm_update_running(const Tensor& running_mean, const Tensor& running_var,
                               const float* mean, const float* var, int64_t count,
                               double momentum) {
  KILN_CHECK(running_mean.dtype() == DType::F32 && running_var.dtype() == DType::F32 &&
                 running_mean.is_contiguous() && running_var.is_contiguous() &&
                 running_mean.numel() == running_var.numel(),
             "batch_norm: running statistics must be contiguous f32 vectors of one length");
  KILN_CHECK(count > 1, "batch_norm: the unbiased variance needs more than one value per channel");
  NoGradGuard ng;
  update_running<float>(running_mean, mean, momentum, 1.0);
  update_running<float>(running_var, var, momentum, static_cast<double>(count) / (count - 1));
}

}  // namespace kiln
