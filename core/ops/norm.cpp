// layer_norm and rms_norm over the last dimension, each a fused row kernel forward and a fused
// backward that produces dx, dweight and dbias in one pass over the rows.
//   layer_norm: y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps), var biased (as torch),
//               computed two-pass (mean first, then squared deviations) for accuracy.
//   rms_norm:   y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps).
// Backward, with xhat = normalised x and gw = g * w:
//   layer_norm: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))
//   rms_norm:   dx = rstd * (gw - xhat * mean(gw * xhat))
//   dweight = sum_rows g * xhat, dbias = sum_rows g.
// Rows are split over the thread pool; each row is normalised by one thread. The parameter
// gradients are reduced over fixed 32-row blocks (per-block partial sums, then the partials are
// added in block order), so their bits do not depend on the thread count. Row statistics and
// parameter-gradient partials of f32 inputs are accumulated in f64; per-element maths is in the
// input type. The f32 forward row is core/kernels/norm_row.h (16-lane sums, vectorised). Forward
// saves only per-row mean/rstd besides the inputs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/kernels/norm_row.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kLayerNormOp, "layer_norm", true);
KILN_OP(kRmsNormOp, "rms_norm", true);

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

constexpr int64_t kRowBlock = 32;  // fixed row block for deterministic parameter-grad partials

Tensor detached_contiguous(const Tensor& t) {
  if (!t.defined()) return t;
  NoGradGuard ng;
  return t.detach().contiguous();
}

void check_param(const Tensor& x, const Tensor& p, const char* op, const char* what) {
  if (!p.defined()) return;
  const int64_t d = x.shape().back();
  KILN_CHECK(p.dim() == 1 && p.shape()[0] == d, op, ": ", what, " must have shape [", d,
             "] to match the last dimension of ", x.describe(), ", got ", p.describe());
  KILN_CHECK(p.dtype() == x.dtype(), op, ": ", what, " dtype ", p.describe(),
             " does not match input ", x.describe());
}

int64_t row_grain(int64_t d) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(d, 1));
}

// sum_j term(j) over [0, n) with four independent accumulators in a fixed order (deterministic;
// avoids serialising on one accumulator's add latency).
template <typename T, typename F>
Acc<T> lane_sum(int64_t n, F term) {
  Acc<T> s[4] = {0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += term(j + k);
  for (; j < n; ++j) s[0] += term(j);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Forward: y rows plus per-row mean (layer_norm only) and rstd.
template <typename T, bool kRms>
void norm_forward(const T* x, const T* w, const T* b, T* y, T* mean_out, T* rstd_out, int64_t rows,
                  int64_t d, double eps) {
  parallel_for(0, rows, row_grain(d), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      if constexpr (std::is_same_v<T, float>) {
        // The vectorised row (core/kernels/norm_row.h: the same formulas, sums in 16 lanes).
        const kernels::NormRowStats st = kernels::norm_row_f32(xr, w, b, yr, d, eps, kRms);
        if constexpr (!kRms) mean_out[r] = st.mean;
        rstd_out[r] = st.rstd;
        continue;
      }
      T mu = 0;
      Acc<T> ss = 0;
      if constexpr (kRms) {
        ss = lane_sum<T>(d, [&](int64_t j) { return static_cast<Acc<T>>(xr[j]) * xr[j]; });
      } else {
        const Acc<T> s = lane_sum<T>(d, [&](int64_t j) { return static_cast<Acc<T>>(xr[j]); });
        mu = static_cast<T>(s / static_cast<Acc<T>>(d));
        ss = lane_sum<T>(d, [&](int64_t j) {
          const T c = xr[j] - mu;
          return static_cast<Acc<T>>(c) * c;
        });
        mean_out[r] = mu;
      }
      const T rstd = static_cast<T>(1.0 / std::sqrt(static_cast<double>(ss) / d + eps));
      rstd_out[r] = rstd;
      if (w && b) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rstd * w[j] + b[j];
      } else if (w) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rstd * w[j];
      } else if (b) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rstd + b[j];
      } else {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rstd;
      }
    }
  });
}

// Backward: dx (if wanted) and per-block partials of dweight/dbias, then the ordered block sum.
template <typename T, bool kRms>
void norm_backward(const T* g, const T* x, const T* w, const T* mean, const T* rstd, T* dx, T* dw,
                   T* db, int64_t rows, int64_t d) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  // Partials live in tensors (the caching allocator), not fresh vectors: a multi-MB zeroed
  // allocation per call costs page faults that would dominate the kernel.
  static_assert(std::is_same_v<Acc<T>, double>);
  Tensor pw_t = dw ? Tensor::empty({blocks, d}, DType::F64) : Tensor();
  Tensor pb_t = db ? Tensor::empty({blocks, d}, DType::F64) : Tensor();
  Acc<T>* pw = dw ? pw_t.data<double>() : nullptr;
  Acc<T>* pb = db ? pb_t.data<double>() : nullptr;
  parallel_for(0, blocks, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      Acc<T>* pwr = dw ? pw + blk * d : nullptr;
      Acc<T>* pbr = db ? pb + blk * d : nullptr;
      for (int64_t j = 0; pwr && j < d; ++j) pwr[j] = 0;
      for (int64_t j = 0; pbr && j < d; ++j) pbr[j] = 0;
      const int64_t r1 = std::min(rows, (blk + 1) * kRowBlock);
      for (int64_t r = blk * kRowBlock; r < r1; ++r) {
        const T* gr = g + r * d;
        const T* xr = x + r * d;
        const T mu = kRms ? T(0) : mean[r];
        const T rs = rstd[r];
        if (pwr)
          for (int64_t j = 0; j < d; ++j)
            pwr[j] += static_cast<Acc<T>>(gr[j]) * ((xr[j] - mu) * rs);
        if (pbr)
          for (int64_t j = 0; j < d; ++j) pbr[j] += gr[j];
        if (!dx) continue;
        auto gw_at = [&](int64_t j) { return w ? gr[j] * w[j] : gr[j]; };
        const Acc<T> s_gw =
            kRms ? Acc<T>(0) : lane_sum<T>(d, [&](int64_t j) { return Acc<T>(gw_at(j)); });
        const Acc<T> s_gwx = lane_sum<T>(
            d, [&](int64_t j) { return static_cast<Acc<T>>(gw_at(j)) * ((xr[j] - mu) * rs); });
        const T m_gw = kRms ? T(0) : static_cast<T>(s_gw / static_cast<Acc<T>>(d));
        const T m_gwx = static_cast<T>(s_gwx / static_cast<Acc<T>>(d));
        T* dr = dx + r * d;
        for (int64_t j = 0; j < d; ++j) {
          const T gw = w ? gr[j] * w[j] : gr[j];
          const T xh = (xr[j] - mu) * rs;
          dr[j] = rs * (gw - m_gw - xh * m_gwx);
        }
      }
    }
  });
  if (!dw && !db) return;
  // Ordered sum of the block partials: per column, blocks are added in block order. Walking each
  // block's row contiguously (rather than striding down a column) keeps this a streaming pass.
  parallel_for(0, d, 1024, [&](int64_t jb, int64_t je) {
    std::vector<Acc<T>> acc(static_cast<size_t>(je - jb));
    for (auto [part, outp] : {std::pair{pw, dw}, std::pair{pb, db}}) {
      if (!outp) continue;
      std::fill(acc.begin(), acc.end(), Acc<T>(0));
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const Acc<T>* src = part + blk * d + jb;
        for (int64_t j = 0; j < je - jb; ++j) acc[j] += src[j];
      }
      for (int64_t j = jb; j < je; ++j) outp[j] = static_cast<T>(acc[j - jb]);
    }
  });
}

template <bool kRms>
Tensor norm_impl(const OpInfo& op, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
                 double eps) {
  KILN_CHECK(x_in.dim() >= 1, op.name, ": expected an input with at least 1 dimension, got ",
             x_in.describe());
  check_param(x_in, w_in, op.name, "weight");
  check_param(x_in, b_in, op.name, "bias");
  KILN_CHECK(eps >= 0, op.name, ": eps must be non-negative, got ", eps);
  const int64_t d = x_in.shape().back();
  const int64_t rows = d == 0 ? 0 : x_in.numel() / d;
  Tensor x = detached_contiguous(x_in), w = detached_contiguous(w_in),
         b = detached_contiguous(b_in);
  const DType dt = x_in.dtype();
  Tensor out = Tensor::empty(x_in.shape(), dt);
  Tensor mean = kRms ? Tensor() : Tensor::empty({rows}, dt);
  Tensor rstd = Tensor::empty({rows}, dt);
  dispatch_floating(dt, op.name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel() == 0) return;
    norm_forward<T, kRms>(x.data<T>(), w.defined() ? w.data<T>() : nullptr,
                          b.defined() ? b.data<T>() : nullptr, out.data<T>(),
                          kRms ? nullptr : mean.data<T>(), rstd.data<T>(), rows, d, eps);
  });
  if (!needs_grad({&x_in, &w_in, &b_in})) return out;
  const bool gx = x_in.requires_grad(), gw = w_in.defined() && w_in.requires_grad(),
             gb = b_in.defined() && b_in.requires_grad();
  const Shape shape = x_in.shape();
  return record(op, out, {x_in, w_in, b_in}, {&x, &w, &mean, &rstd},
                [=](const Tensor& grad) -> std::vector<Tensor> {
                  Tensor g = grad.contiguous();
                  Tensor dx = gx ? Tensor::empty(shape, dt) : Tensor();
                  Tensor dw = gw ? Tensor::empty({d}, dt) : Tensor();
                  Tensor db = gb ? Tensor::empty({d}, dt) : Tensor();
                  dispatch_floating(dt, op.name, [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
                    if (d == 0) return;
                    norm_backward<T, kRms>(ptr(g), ptr(x), ptr(w), ptr(mean), ptr(rstd), ptr(dx),
                                           ptr(dw), ptr(db), rows, d);
                  });
                  return {dx, dw, db};
                });
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return norm_impl<false>(kLayerNormOp, x, weight, bias, eps);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return norm_impl<true>(kRmsNormOp, x, weight, Tensor(), eps);
}

}  // namespace kiln
