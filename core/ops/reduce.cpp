// Reductions: sum, mean, max, argmax, and sum_to (the adjoint of broadcasting).
// Every output element is reduced sequentially by one thread, in index order, with an f64
// accumulator for f32 inputs; a full reduction of a large tensor sums fixed 4096-element blocks in
// parallel and then adds the block sums in order. Either way the bits do not depend on threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kSumOp, "sum", true);
KILN_OP(kMeanOp, "mean", true);
KILN_OP(kMaxOp, "max", true);
KILN_OP(kArgmaxOp, "argmax", false);

namespace {

struct ReducePlan {
  std::vector<int64_t> dims;  // sorted, unique, wrapped
  Shape out_shape;            // keepdim shape
  Shape squeezed_shape;       // without reduced dims
  int64_t out_n = 1, red_n = 1;
  // Contiguous [out_n, red_n] layout of the input; or, when `leading`, the input itself, read as
  // [red_n, out_n] (the reduced dims are its leading dims).
  Tensor arranged;
  bool leading = false;
};

// keep_leading: when the reduced dims are the leading dims of a contiguous input (a bias gradient,
// sum over rows of [tokens, features]), skip the transposing copy and let the kernel read the
// input as [red_n, out_n].
ReducePlan plan_reduce(const Tensor& a, std::vector<int64_t> dims, const char* op,
                       bool keep_leading = false) {
  ReducePlan p;
  const int64_t r = a.dim();
  for (auto& d : dims) d = wrap_dim(d, r, op);
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  p.dims = dims;
  std::vector<int64_t> order;
  for (int64_t d = 0; d < r; ++d) {
    const bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    p.out_shape.push_back(reduced ? 1 : a.shape()[d]);
    if (!reduced) {
      order.push_back(d);
      p.squeezed_shape.push_back(a.shape()[d]);
      p.out_n *= a.shape()[d];
    }
  }
  for (int64_t d : dims) {
    order.push_back(d);
    p.red_n *= a.shape()[d];
  }
  NoGradGuard ng;
  const auto nd = static_cast<int64_t>(dims.size());
  if (keep_leading && nd < r && (nd == 0 || dims.back() == nd - 1) && a.is_contiguous()) {
    p.arranged = a;
    p.leading = true;
    return p;
  }
  p.arranged = r == 0 ? a.contiguous() : permute(a, order).contiguous();
  return p;
}

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// o[j] = scale * sum over i of in[i * cols + j], i ascending, one accumulator per column. Every
// column sees the same additions in the same order as the row loop below sees that column's row of
// the transposed copy, so the bits are the same; only the strided copy is gone (in a BERT-base
// training step the copies for bias gradients took 5% of the time). Column blocks keep the
// accumulators in L1; which thread takes a block does not change any sum.
template <typename T, typename A>
void sum_leading_dims(const T* in, int64_t rows, int64_t cols, double scale, T* o) {
  constexpr int64_t kCols = 128;
  const int64_t blocks = (cols + kCols - 1) / kCols;
  parallel_for(0, blocks, std::max<int64_t>(1, 16384 / std::max<int64_t>(rows * kCols, 1)),
               [&](int64_t b, int64_t e) {
                 A acc[kCols];
                 for (int64_t blk = b; blk < e; ++blk) {
                   const int64_t j0 = blk * kCols, nc = std::min(kCols, cols - j0);
                   std::fill(acc, acc + nc, A(0));
                   for (int64_t i = 0; i < rows; ++i) {
                     const T* row = in + i * cols + j0;
                     for (int64_t j = 0; j < nc; ++j) acc[j] += row[j];
                   }
                   for (int64_t j = 0; j < nc; ++j) o[j0 + j] = static_cast<T>(acc[j] * scale);
                 }
               });
}

// Sum of term(in[i]) over all n elements, in the accumulator type. Up to 8192 elements one
// sequential pass; above, fixed 4096-element blocks summed in parallel, then the block sums in
// order. The blocks do not depend on the thread count, so neither do the bits.
template <typename T, typename Term>
Acc<T> full_sum(const T* in, int64_t n, Term term) {
  if (n <= 8192) {
    Acc<T> s = 0;
    for (int64_t i = 0; i < n; ++i) s += term(in[i]);
    return s;
  }
  constexpr int64_t kBlock = 4096;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<Acc<T>> partial(static_cast<size_t>(nb));
  // Each block's sum is one serial chain of f64 adds (its order is what fixes the bits), so a
  // lone chain waits on add latency. kChains full blocks advance side by side instead, each still
  // in its own order: same bits; sum_of_squares went from 2.1% to 1.1% of a BERT-base training
  // step (perf).
  constexpr int64_t kChains = 8;
  const int64_t full_blocks = n / kBlock;
  parallel_for(0, nb, kChains, [&](int64_t b, int64_t e) {
    int64_t blk = b;
    for (; blk + kChains <= std::min(e, full_blocks); blk += kChains) {
      Acc<T> s[kChains] = {};
      const T* base = in + blk * kBlock;
      for (int64_t i = 0; i < kBlock; ++i) {
        for (int64_t c = 0; c < kChains; ++c) s[c] += term(base[c * kBlock + i]);
      }
      for (int64_t c = 0; c < kChains; ++c) partial[blk + c] = s[c];
    }
    for (; blk < e; ++blk) {
      Acc<T> s = 0;
      const int64_t lo = blk * kBlock, hi = std::min(n, lo + kBlock);
      for (int64_t i = lo; i < hi; ++i) s += term(in[i]);
      partial[blk] = s;
    }
  });
  Acc<T> s = 0;
  for (auto v : partial) s += v;
  return s;
}

template <typename T>
Tensor sum_kernel(const ReducePlan& p, DType dt, double scale) {
  Tensor out = Tensor::empty(p.squeezed_shape, dt);
  const T* in = static_cast<const T*>(p.arranged.raw_data());
  T* o = static_cast<T*>(out.raw_data());
  const int64_t red = p.red_n;
  if (p.leading && p.out_n > 1) {
    sum_leading_dims<T, Acc<T>>(in, red, p.out_n, scale, o);
    return out;
  }
  if (p.out_n == 1) {
    o[0] = static_cast<T>(full_sum(in, red, [](T x) { return x; }) * scale);
    return out;
  }
  parallel_for(0, p.out_n, std::max<int64_t>(1, 16384 / std::max<int64_t>(red, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i) {
                   Acc<T> s = 0;
                   const T* row = in + i * red;
                   for (int64_t j = 0; j < red; ++j) s += row[j];
                   o[i] = static_cast<T>(s * scale);
                 }
               });
  return out;
}

Tensor reduce_sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, bool is_mean,
                  const OpInfo& op) {
  ReducePlan p = plan_reduce(a, dims, op.name, /*keep_leading=*/true);
  const double scale = is_mean ? 1.0 / static_cast<double>(p.red_n) : 1.0;
  Tensor out = dispatch_floating(a.dtype(), op.name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return sum_kernel<T>(p, a.dtype(), is_mean && p.red_n == 0 ? NAN : scale);
  });
  if (keepdim) {
    NoGradGuard ng;
    out = reshape(out, p.out_shape);
  }
  const Shape in_shape = a.shape(), keep_shape = p.out_shape;
  return record(op, out, {a}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gg = expand(reshape(g, keep_shape), in_shape);
    return {is_mean ? mul(gg, scale) : contiguous(gg)};
  });
}

std::vector<int64_t> all_dims(const Tensor& a) {
  std::vector<int64_t> d(a.dim());
  std::iota(d.begin(), d.end(), 0);
  return d;
}

}  // namespace

Tensor sum(const Tensor& a) {
  return reduce_sum(a, all_dims(a), false, false, kSumOp);
}
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(a, dims, keepdim, false, kSumOp);
}
Tensor mean(const Tensor& a) {
  return reduce_sum(a, all_dims(a), false, true, kMeanOp);
}
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(a, dims, keepdim, true, kMeanOp);
}

Tensor sum_of_squares(const Tensor& a) {
  KILN_CHECK(!(grad_enabled() && a.requires_grad()),
             "sum_of_squares: has no backward; call it under NoGradGuard or on a detached tensor");
  NoGradGuard ng;
  const Tensor c = a.contiguous();
  Tensor out = Tensor::empty({}, a.dtype());
  dispatch_floating(a.dtype(), "sum_of_squares", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // x * x in T, as mul(a, a) rounds it, before it meets the accumulator.
    *static_cast<T*>(out.raw_data()) = static_cast<T>(full_sum(
        static_cast<const T*>(c.raw_data()), c.numel(), [](T x) { return static_cast<T>(x * x); }));
  });
  return out;
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  const int64_t lead = a.dim() - static_cast<int64_t>(shape.size());
  KILN_CHECK(lead >= 0, "sum_to: cannot reduce ", a.describe(), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && a.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      KILN_CHECK(shape[d - lead] == a.shape()[d], "sum_to: cannot reduce ", a.describe(), " to ",
                 shape_str(shape));
    }
  }
  return reshape(sum(a, dims, false), shape);
}

namespace {

// Values and first-max indices along one dim. NaN counts as the maximum (as in torch).
std::pair<Tensor, Tensor> max_kernel(const Tensor& a, int64_t dim, const char* op) {
  ReducePlan p = plan_reduce(a, {dim}, op);
  KILN_CHECK(p.red_n > 0, op, ": cannot reduce over an empty dimension of ", a.describe());
  Tensor vals = Tensor::empty(p.squeezed_shape, a.dtype());
  Tensor idx = Tensor::empty(p.squeezed_shape, DType::I64);
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(p.arranged.raw_data());
    T* v = static_cast<T*>(vals.raw_data());
    int64_t* ix = static_cast<int64_t*>(idx.raw_data());
    const int64_t red = p.red_n;
    parallel_for(0, p.out_n, 256, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* row = in + i * red;
        int64_t best = 0;
        for (int64_t j = 1; j < red; ++j) {
          if (std::isnan(row[best])) break;
          if (row[j] > row[best] || std::isnan(row[j])) best = j;
        }
        v[i] = row[best];
        ix[i] = best;
      }
    });
  });
  return {vals, idx};
}

}  // namespace

Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "max");
  auto [vals, idx] = max_kernel(a, dim, "max");
  Tensor out = vals;
  if (keepdim) {
    NoGradGuard ng;
    out = unsqueeze(vals, dim).contiguous();
  }
  const Shape in_shape = a.shape();
  return record(kMaxOp, out, {a}, {&idx}, [=](const Tensor& g) -> std::vector<Tensor> {
    // Route each output gradient to the input position that won.
    Tensor dx = Tensor::zeros(in_shape, g.dtype());
    Tensor gc = (keepdim ? squeeze(g, dim) : g).contiguous();
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= in_shape[d];
    for (size_t d = dim + 1; d < in_shape.size(); ++d) inner *= in_shape[d];
    const int64_t n = in_shape.empty() ? 1 : in_shape[dim];
    const int64_t* ix = static_cast<const int64_t*>(idx.raw_data());
    dispatch_floating(g.dtype(), "max_backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* gp = static_cast<const T*>(gc.raw_data());
      T* dp = static_cast<T*>(dx.raw_data());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
          dp[(o * n + ix[o * inner + i]) * inner + i] = gp[o * inner + i];
    });
    return {dx};
  });
}

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "argmax");
  Tensor idx = max_kernel(a, dim, "argmax").second;
  return keepdim ? unsqueeze(idx, dim).contiguous() : idx;
}

}  // namespace kiln
