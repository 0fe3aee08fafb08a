// softmax and log_softmax along any dimension: one fused, numerically stable pass per row
// (max-subtracted exponentials, no intermediate tensors) and a fused backward from the saved output
// (softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g)), so neither direction
// keeps the input alive. The input is viewed as [outer, n, inner] with n the softmax dimension:
// the last dimension (inner == 1, the attention/classifier case) takes a contiguous row kernel;
// other dimensions process a chunk of `inner` columns at a time with per-column running buffers,
// reading memory in order instead of transposing. Each output element is produced by exactly one
// thread in a fixed order, so results do not depend on the thread count. Row sums of f32 inputs
// are accumulated in f64 (the exponentials themselves are computed in f32).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kSoftmaxOp, "softmax", true);
KILN_OP(kLogSoftmaxOp, "log_softmax", true);

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

constexpr int64_t kColChunk = 64;  // columns per task when the softmax dim is not the last

struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};

Layout layout_of(const Shape& shape, int64_t dim) {
  Layout l;
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[d];
  l.n = shape.empty() ? 1 : shape[dim];
  for (size_t d = dim + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

// ---- forward ----

// Row max and sum with four independent lanes (fixed order, so still deterministic): breaks the
// loop-carried dependency that otherwise limits a scalar reduction to one element per add latency.
template <typename T>
T row_max(const T* x, int64_t n) {
  T m[4] = {-std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
            -std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity()};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int k = 0; k < 4; ++k) m[k] = x[j + k] > m[k] ? x[j + k] : m[k];
  for (; j < n; ++j) m[0] = x[j] > m[0] ? x[j] : m[0];
  const T a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
  return a > b ? a : b;
}

template <typename T>
Acc<T> row_sum(const T* x, int64_t n) {
  Acc<T> s[4] = {0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += x[j + k];
  for (; j < n; ++j) s[0] += x[j];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <typename T>
Acc<T> row_dot(const T* a, const T* b, int64_t n) {
  Acc<T> s[4] = {0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int k = 0; k < 4; ++k) s[k] += static_cast<Acc<T>>(a[j + k] * b[j + k]);
  for (; j < n; ++j) s[0] += static_cast<Acc<T>>(a[j] * b[j]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <typename T, bool kLog>
void forward_rows(const T* x, T* y, const Layout& l) {
  const int64_t n = l.n;
  parallel_for(0, l.outer, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const T m = row_max(xr, n);
      // Exponentials first (independent calls overlap), then their sum.
      for (int64_t j = 0; j < n; ++j) yr[j] = std::exp(xr[j] - m);
      const Acc<T> s = row_sum(yr, n);
      if constexpr (kLog) {
        const T lse = m + static_cast<T>(std::log(s));
        for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - lse;
      } else {
        const T inv = static_cast<T>(Acc<T>(1) / s);
        for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
      }
    }
  });
}

template <typename T, bool kLog>
void forward_cols(const T* x, T* y, const Layout& l) {
  const int64_t n = l.n, inner = l.inner;
  const int64_t chunks = (inner + kColChunk - 1) / kColChunk;
  parallel_for(0, l.outer * chunks, 1, [&](int64_t b, int64_t e) {
    T m[kColChunk];
    Acc<T> s[kColChunk];
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / chunks, c0 = (task % chunks) * kColChunk;
      const int64_t w = std::min(kColChunk, inner - c0);
      const T* xo = x + o * n * inner + c0;
      T* yo = y + o * n * inner + c0;
      for (int64_t i = 0; i < w; ++i) m[i] = -std::numeric_limits<T>::infinity(), s[i] = 0;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < w; ++i) m[i] = xo[j * inner + i] > m[i] ? xo[j * inner + i] : m[i];
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < w; ++i) {
          const T ej = std::exp(xo[j * inner + i] - m[i]);
          if constexpr (!kLog) yo[j * inner + i] = ej;
          s[i] += ej;
        }
      if constexpr (kLog) {
        for (int64_t i = 0; i < w; ++i) m[i] += static_cast<T>(std::log(s[i]));  // m := lse
        for (int64_t j = 0; j < n; ++j)
          for (int64_t i = 0; i < w; ++i) yo[j * inner + i] = xo[j * inner + i] - m[i];
      } else {
        for (int64_t i = 0; i < w; ++i) m[i] = static_cast<T>(Acc<T>(1) / s[i]);  // m := 1/sum
        for (int64_t j = 0; j < n; ++j)
          for (int64_t i = 0; i < w; ++i) yo[j * inner + i] *= m[i];
      }
    }
  });
}

// ---- backward (from the saved output y) ----

template <typename T, bool kLog>
void backward_rows(const T* g, const T* y, T* dx, const Layout& l) {
  const int64_t n = l.n;
  parallel_for(0, l.outer, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* gr = g + r * n;
      const T* yr = y + r * n;
      T* dr = dx + r * n;
      if constexpr (kLog) {
        const T st = static_cast<T>(row_sum(gr, n));
        for (int64_t j = 0; j < n; ++j) dr[j] = gr[j] - std::exp(yr[j]) * st;
      } else {
        const T st = static_cast<T>(row_dot(gr, yr, n));
        for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - st);
      }
    }
  });
}

template <typename T, bool kLog>
void backward_cols(const T* g, const T* y, T* dx, const Layout& l) {
  const int64_t n = l.n, inner = l.inner;
  const int64_t chunks = (inner + kColChunk - 1) / kColChunk;
  parallel_for(0, l.outer * chunks, 1, [&](int64_t b, int64_t e) {
    Acc<T> s[kColChunk];
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / chunks, c0 = (task % chunks) * kColChunk;
      const int64_t w = std::min(kColChunk, inner - c0);
      const int64_t base = o * n * inner + c0;
      for (int64_t i = 0; i < w; ++i) s[i] = 0;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < w; ++i) {
          const int64_t k = base + j * inner + i;
          s[i] += kLog ? g[k] : g[k] * y[k];
        }
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < w; ++i) {
          const int64_t k = base + j * inner + i;
          const T st = static_cast<T>(s[i]);
          dx[k] = kLog ? g[k] - std::exp(y[k]) * st : y[k] * (g[k] - st);
        }
    }
  });
}

template <bool kLog>
Tensor softmax_impl(const OpInfo& op, const Tensor& a, int64_t dim) {
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim(dim, a.dim(), op.name);
  if (a.dim() == 0)
    KILN_CHECK(dim == 0 || dim == -1, op.name, ": dim ", dim, " out of range for a 0-d tensor");
  const Layout l = layout_of(a.shape(), d);
  Tensor x;
  {
    NoGradGuard ng;
    x = a.detach().contiguous();
  }
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch_floating(a.dtype(), op.name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out.numel() == 0) return;
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    if (l.inner == 1)
      forward_rows<T, kLog>(xp, yp, l);
    else
      forward_cols<T, kLog>(xp, yp, l);
  });
  if (!needs_grad({&a})) return out;
  Tensor y = out.detach();
  return record(op, out, {a}, {&y}, [y, l](const Tensor& grad) -> std::vector<Tensor> {
    Tensor g = grad.contiguous();
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    KILN_CHECK(g.dtype() == y.dtype(), "softmax backward: gradient dtype ", g.describe(),
               " does not match ", y.describe());
    dispatch_floating(y.dtype(), "softmax_backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (dx.numel() == 0) return;
      if (l.inner == 1)
        backward_rows<T, kLog>(g.data<T>(), y.data<T>(), dx.data<T>(), l);
      else
        backward_cols<T, kLog>(g.data<T>(), y.data<T>(), dx.data<T>(), l);
    });
    return {dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  return softmax_impl<false>(kSoftmaxOp, a, dim);
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  return softmax_impl<true>(kLogSoftmaxOp, a, dim);
}

}  // namespace kiln
