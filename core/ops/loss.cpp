// cross_entropy: log-softmax and negative log-likelihood fused into one row kernel, with torch's
// options (torch.nn.functional.cross_entropy with class-index targets):
//   logp = log_softmax(x[n]), t = target[n], w = class weights (1 when absent), eps = smoothing,
//   loss[n] = (1 - eps) * w[t] * -logp[t] + (eps / C) * sum_c w[c] * -logp[c]
//   and 0 where t == ignore_index. Reduction Mean divides the sum by sum_n w[t_n] over
//   non-ignored n (NaN when that is 0, e.g. N == 0 or every target ignored, as torch); Sum sums;
//   None returns loss[n].
// Per row the kernel keeps only log-sum-exp, never the [N, C] log-probabilities, and the backward
// rebuilds softmax from it: dx[n, c] = s[n] * ((1 - eps) * w[t] * (p[c] - [c == t])
//                                              + (eps / C) * (W * p[c] - w[c])),  W = sum_c w[c],
// where s[n] is the upstream gradient (scaled by 1 / denominator for Mean). Rows run in parallel,
// one thread per row; the final reduction adds per-row losses in row order, so results do not
// depend on the thread count. f32 logits: row sums and losses are accumulated in f64.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kCrossEntropyOp, "cross_entropy", true);

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// What the backward needs besides the logits: per-row lse and target, and the scalar options.
struct CeSaved {
  std::vector<double> lse;      // per row
  std::vector<int64_t> target;  // per row (ignored rows keep ignore_index)
  std::vector<double> weight;   // [C], empty when unweighted
  double weight_sum = 0;        // W (C when unweighted)
  double denom = 0;             // Mean denominator
};

// Row maximum with four independent lanes (fixed order; NaN-skipping like a > m ? a : m, a NaN
// then poisons the row through exp).
template <typename T>
T row_max(const T* x, int64_t n) {
  const T lo = -std::numeric_limits<T>::infinity();
  T m[4] = {lo, lo, lo, lo};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int k = 0; k < 4; ++k) m[k] = x[j + k] > m[k] ? x[j + k] : m[k];
  for (; j < n; ++j) m[0] = x[j] > m[0] ? x[j] : m[0];
  const T a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
  return a > b ? a : b;
}

std::vector<int64_t> read_targets(const Tensor& targets) {
  KILN_CHECK(targets.dtype() == DType::I64 || targets.dtype() == DType::I32,
             "cross_entropy: targets must be i64 or i32 class ids, got ", targets.describe());
  Tensor t;
  {
    NoGradGuard ng;
    t = targets.detach().contiguous();
  }
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  dispatch_index(t.dtype(), "cross_entropy", [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* p = static_cast<const I*>(t.raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(p[i]);
  });
  return out;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options) {
  KILN_CHECK(logits.dim() == 1 || logits.dim() == 2,
             "cross_entropy: logits must be [N, C] or [C], got ", logits.describe());
  const bool batched = logits.dim() == 2;
  const int64_t C = logits.shape().back();
  const int64_t N = batched ? logits.shape()[0] : 1;
  if (batched)
    KILN_CHECK(targets.dim() == 1 && targets.shape()[0] == N, "cross_entropy: targets must be [", N,
               "] for logits ", logits.describe(), ", got ", targets.describe());
  else
    KILN_CHECK(targets.numel() == 1 && targets.dim() <= 1,
               "cross_entropy: targets must be a single class id ([] or [1]) for logits ",
               logits.describe(), ", got ", targets.describe());
  const double eps = options.label_smoothing;
  KILN_CHECK(eps >= 0.0 && eps <= 1.0, "cross_entropy: label_smoothing must be in [0, 1], got ",
             eps);
  const DType dt = logits.dtype();

  auto saved = std::make_shared<CeSaved>();
  saved->target = read_targets(targets);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = saved->target[n];
    KILN_CHECK(t == options.ignore_index || (t >= 0 && t < C), "cross_entropy: target ", t,
               " at position ", n, " is out of range for ", C, " classes (expected 0..", C - 1,
               " or ignore_index ", options.ignore_index, ")");
  }
  if (options.class_weights.defined()) {
    const Tensor& cw = options.class_weights;
    KILN_CHECK(cw.dim() == 1 && cw.shape()[0] == C, "cross_entropy: class_weights must be [", C,
               "], got ", cw.describe());
    KILN_CHECK(is_floating(cw.dtype()), "cross_entropy: class_weights must be floating, got ",
               cw.describe());
    saved->weight = cw.to_vector();
    for (double v : saved->weight) saved->weight_sum += v;
  } else {
    saved->weight_sum = static_cast<double>(C);
  }
  const bool weighted = !saved->weight.empty();
  saved->lse.assign(static_cast<size_t>(N), 0.0);

  Tensor x;
  {
    NoGradGuard ng;
    x = logits.detach().contiguous();
  }
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  dispatch_floating(dt, "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const double* wp = weighted ? saved->weight.data() : nullptr;
    const int64_t ignore = options.ignore_index;
    parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t n = b; n < e; ++n) {
                     const int64_t t = saved->target[n];
                     if (t == ignore) continue;
                     const T* xr = xp + n * C;
                     const T m = row_max(xr, C);
                     // Four accumulators in fixed order: deterministic, and not serialised on
                     // one add chain.
                     Acc<T> sl[4] = {0, 0, 0, 0};
                     int64_t c4 = 0;
                     for (; c4 + 4 <= C; c4 += 4)
                       for (int k = 0; k < 4; ++k) sl[k] += std::exp(xr[c4 + k] - m);
                     for (; c4 < C; ++c4) sl[0] += std::exp(xr[c4] - m);
                     const Acc<T> s = (sl[0] + sl[1]) + (sl[2] + sl[3]);
                     const double lse = static_cast<double>(m) + std::log(static_cast<double>(s));
                     saved->lse[n] = lse;
                     const double wt = wp ? wp[t] : 1.0;
                     double loss = (1.0 - eps) * wt * (lse - static_cast<double>(xr[t]));
                     if (eps != 0.0) {
                       // sum_c w[c] * -logp[c] = W * lse - sum_c w[c] * x[c]
                       Acc<T> wx = 0;
                       if (wp)
                         for (int64_t c = 0; c < C; ++c) wx += wp[c] * xr[c];
                       else
                         for (int64_t c = 0; c < C; ++c) wx += xr[c];
                       loss += eps / static_cast<double>(C) *
                               (saved->weight_sum * lse - static_cast<double>(wx));
                     }
                     row_loss[n] = loss;
                   }
                 });
  });
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = saved->target[n];
    if (t != options.ignore_index) saved->denom += weighted ? saved->weight[t] : 1.0;
  }

  const Reduction red = options.reduction;
  Tensor out;
  if (red == Reduction::None) {
    out = Tensor::from_vector(row_loss, batched ? Shape{N} : targets.shape(), dt);
  } else {
    double total = 0;
    for (double v : row_loss) total += v;
    if (red == Reduction::Mean) total = total / saved->denom;  // 0/0 -> NaN, as torch
    out = Tensor::scalar(total, dt);
  }
  if (!needs_grad({&logits})) return out;

  const int64_t ignore = options.ignore_index;
  return record(
      kCrossEntropyOp, out, {logits}, {&x}, [=](const Tensor& grad) -> std::vector<Tensor> {
        Tensor dx = Tensor::empty(x.shape(), dt);  // every row is written below
        std::vector<double> scale(static_cast<size_t>(N), 0.0);
        if (red == Reduction::None) {
          scale = grad.to_vector();
        } else {
          const double g = grad.item();
          const double s = red == Reduction::Mean ? g / saved->denom : g;
          std::fill(scale.begin(), scale.end(), s);
        }
        dispatch_floating(dt, "cross_entropy_backward", [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* xp = x.data<T>();
          T* dp = dx.data<T>();
          const double* wp = saved->weight.empty() ? nullptr : saved->weight.data();
          const double sm = eps / static_cast<double>(C);
          parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)),
                       [&](int64_t b, int64_t e) {
                         for (int64_t n = b; n < e; ++n) {
                           const int64_t t = saved->target[n];
                           if (t == ignore) {
                             std::fill(dp + n * C, dp + (n + 1) * C, T(0));
                             continue;
                           }
                           const T* xr = xp + n * C;
                           T* dr = dp + n * C;
                           const T lse = static_cast<T>(saved->lse[n]);
                           const double wt = wp ? wp[t] : 1.0;
                           // dx = s * ((1-eps) * wt + sm * W) * p[c] - s * sm * w[c] -
                           // s*(1-eps)*wt*[c==t]
                           const T a = static_cast<T>(scale[n] *
                                                      ((1.0 - eps) * wt + sm * saved->weight_sum));
                           const T bsm = static_cast<T>(scale[n] * sm);
                           if (wp)
                             for (int64_t c = 0; c < C; ++c)
                               dr[c] = a * std::exp(xr[c] - lse) - bsm * static_cast<T>(wp[c]);
                           else
                             for (int64_t c = 0; c < C; ++c)
                               dr[c] = a * std::exp(xr[c] - lse) - bsm;
                           dr[t] -= static_cast<T>(scale[n] * (1.0 - eps) * wt);
                         }
                       });
        });
        return {dx};
      });
}

}  // namespace kiln
