// Integer-indexed reads: embedding, index_select and gather, with their scatter-add backwards.
// Why here and like this: embedding is the first op of every transformer and index_select/gather
// back token/label lookups, so the forwards copy whole contiguous rows (memcpy) where the layout
// allows and read any strided input in place (no contiguous copy of the table). The backwards are
// scatter-adds, where two indices may hit the same destination; to stay bit-identical for any
// thread count they never use atomics: each destination element is owned by exactly one task,
// which adds its contributions in ascending source order (embedding/index_select group sources by
// destination row with a counting sort; gather splits work over the dimensions that cannot
// collide). Indices are validated up front and an out-of-range one throws naming it and the bound.
#include <algorithm>
#include <cstring>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kEmbeddingOp, "embedding", true);
KILN_OP(kIndexSelectOp, "index_select", true);
KILN_OP(kGatherOp, "gather", true);

namespace {

// Row-major element offsets (with `strides`) of every multi-index over dims [d0, d1) of `shape`.
std::vector<int64_t> dim_offsets(const Shape& shape, const Shape& strides, size_t d0, size_t d1) {
  std::vector<int64_t> offs{0};
  for (size_t d = d0; d < d1; ++d) {
    std::vector<int64_t> next;
    next.reserve(offs.size() * static_cast<size_t>(shape[d]));
    for (int64_t o : offs)
      for (int64_t i = 0; i < shape[d]; ++i) next.push_back(o + i * strides[d]);
    offs = std::move(next);
  }
  return offs;
}

bool is_iota(const std::vector<int64_t>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Indices as int64 in logical order; throws on any value outside [0, bound).
std::vector<int64_t> load_indices(const Tensor& idx, int64_t bound, const char* op,
                                  const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(idx.numel()));
  Tensor c;
  {
    NoGradGuard ng;
    c = idx.contiguous();
  }
  dispatch_index(idx.dtype(), op, [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* p = static_cast<const I*>(c.raw_data());
    for (size_t i = 0; i < out.size(); ++i) {
      const int64_t v = static_cast<int64_t>(p[i]);
      KILN_CHECK(v >= 0 && v < bound, op, ": index ", v, " out of range for ", what, " of size ",
                 bound);
      out[i] = v;
    }
  });
  return out;
}

// out[p, j, q] = a[pre[p] + idx[j] * st_dim + post[q]] (out contiguous [P, n, Q]).
template <typename T>
void select_rows(const T* a, const std::vector<int64_t>& pre, const std::vector<int64_t>& post,
                 int64_t st_dim, const std::vector<int64_t>& idx, T* out) {
  const int64_t P = static_cast<int64_t>(pre.size()), n = static_cast<int64_t>(idx.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  if (P == 0 || n == 0 || Q == 0) return;
  const bool contiguous_rows = is_iota(post);
  parallel_for(0, P * n, std::max<int64_t>(1, 16384 / Q), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* src = a + pre[r / n] + idx[r % n] * st_dim;
      T* dst = out + r * Q;
      if (contiguous_rows) {
        std::memcpy(dst, src, static_cast<size_t>(Q) * sizeof(T));
      } else {
        for (int64_t q = 0; q < Q; ++q) dst[q] = src[post[q]];
      }
    }
  });
}

// The adjoint of select_rows on contiguous buffers: d[p, idx[j], :] += g[p, j, :], with d
// [P, S, Q] zero-initialised. Sources are grouped by destination row (stable counting sort), and
// each (p, destination row) is one task that adds its sources in ascending j.
template <typename T>
void scatter_add_rows(const T* g, const std::vector<int64_t>& idx, int64_t P, int64_t S, int64_t Q,
                      T* d) {
  const int64_t n = static_cast<int64_t>(idx.size());
  if (P == 0 || n == 0 || Q == 0) return;
  std::vector<int64_t> start(static_cast<size_t>(S) + 1, 0);
  for (int64_t s : idx) ++start[s + 1];
  for (int64_t s = 0; s < S; ++s) start[s + 1] += start[s];
  std::vector<int64_t> order(static_cast<size_t>(n)), fill(start.begin(), start.end() - 1);
  for (int64_t j = 0; j < n; ++j) order[fill[idx[j]]++] = j;
  std::vector<int64_t> touched;
  for (int64_t s = 0; s < S; ++s)
    if (start[s + 1] > start[s]) touched.push_back(s);
  const int64_t nt = static_cast<int64_t>(touched.size());
  const int64_t per_task = std::max<int64_t>(1, Q * n / nt);
  parallel_for(0, P * nt, std::max<int64_t>(1, 16384 / per_task), [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t p = task / nt, s = touched[task % nt];
      T* dst = d + (p * S + s) * Q;
      for (int64_t k = start[s]; k < start[s + 1]; ++k) {
        const T* src = g + (p * n + order[k]) * Q;
        for (int64_t q = 0; q < Q; ++q) dst[q] += src[q];
      }
    }
  });
}

// index_select / embedding forward on a's own strides: out contiguous [pre dims, n, post dims].
Tensor index_rows(const Tensor& a, int64_t dim, const std::vector<int64_t>& idx,
                  const Shape& out_shape, const char* op) {
  Tensor out = Tensor::empty(out_shape, a.dtype());
  const auto pre = dim_offsets(a.shape(), a.strides(), 0, dim);
  const auto post = dim_offsets(a.shape(), a.strides(), dim + 1, a.shape().size());
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    select_rows<T>(static_cast<const T*>(a.raw_data()), pre, post, a.strides()[dim], idx,
                   static_cast<T*>(out.raw_data()));
  });
  return out;
}

// d a from d out of index_rows: a zero tensor of a's shape with g's rows scatter-added.
Tensor index_rows_backward(const Tensor& g, const Shape& a_shape, int64_t dim,
                           const std::vector<int64_t>& idx, const char* op) {
  Tensor gc = g.contiguous();
  Tensor d = Tensor::zeros(a_shape, g.dtype());
  int64_t P = 1, Q = 1;
  for (int64_t i = 0; i < dim; ++i) P *= a_shape[i];
  for (size_t i = dim + 1; i < a_shape.size(); ++i) Q *= a_shape[i];
  dispatch_floating(g.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_add_rows<T>(static_cast<const T*>(gc.raw_data()), idx, P, a_shape[dim], Q,
                        static_cast<T*>(d.raw_data()));
  });
  return d;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  KILN_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [V, D], got ", weight.describe());
  const int64_t V = weight.size(0);
  const auto idx = load_indices(indices, V, "embedding", "an embedding table (V)");
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = index_rows(weight, 0, idx, out_shape, "embedding");
  const Shape w_shape = weight.shape();
  return record(kEmbeddingOp, out, {weight}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {index_rows_backward(g, w_shape, 0, idx, "embedding_backward")};
  });
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& indices) {
  KILN_CHECK(a.dim() >= 1, "index_select: input must be at least 1-D, got ", a.describe());
  dim = wrap_dim(dim, a.dim(), "index_select");
  KILN_CHECK(indices.dim() <= 1, "index_select: indices must be 1-D, got ", indices.describe());
  const auto idx = load_indices(indices, a.size(dim), "index_select", "the selected dimension");
  Shape out_shape = a.shape();
  out_shape[dim] = static_cast<int64_t>(idx.size());
  Tensor out = index_rows(a, dim, idx, out_shape, "index_select");
  const Shape a_shape = a.shape();
  return record(kIndexSelectOp, out, {a}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {index_rows_backward(g, a_shape, dim, idx, "index_select_backward")};
  });
}

namespace {

// Gather geometry. The index shape is split as [pre dims, n, post dims] around `dim`; index
// position (p, j, q) reads a at pre_a[p] + index[p, j, q] * st_dim + post_a[q]. Index dims may be
// smaller than a's (except along dim), which the per-dim offsets express directly.
struct GatherPlan {
  int64_t P = 1, n = 1, Q = 1;
  std::vector<int64_t> pre, post;  // element offsets into the tensor being read or written
  int64_t st_dim = 0;
};

GatherPlan gather_plan(const Shape& index_shape, const Shape& strides, int64_t dim) {
  GatherPlan p;
  p.pre = dim_offsets(index_shape, strides, 0, dim);
  p.post = dim_offsets(index_shape, strides, dim + 1, index_shape.size());
  p.P = static_cast<int64_t>(p.pre.size());
  p.Q = static_cast<int64_t>(p.post.size());
  p.n = index_shape.empty() ? 1 : index_shape[dim];
  p.st_dim = strides.empty() ? 0 : strides[dim];
  return p;
}

// Work is split over (p, block of q): two positions with different p or q never write the same
// element of d a, so each task owns its destinations and walks j in ascending order.
constexpr int64_t kGatherBlock = 256;

}  // namespace

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, a.dim(), "gather");
  KILN_CHECK(index.dim() == a.dim(), "gather: index ", index.describe(),
             " must have the same rank as the input ", a.describe());
  for (int64_t d = 0; d < a.dim(); ++d)
    KILN_CHECK(d == dim || index.size(d) <= a.size(d), "gather: index ", index.describe(),
               " is larger than the input ", a.describe(), " in dimension ", d);
  const int64_t bound = a.dim() == 0 ? 1 : a.size(dim);
  const auto idx = load_indices(index, bound, "gather", "the gathered dimension");
  const Shape ishape = index.shape();
  Tensor out = Tensor::empty(ishape, a.dtype());
  const GatherPlan pa = gather_plan(ishape, a.strides(), dim);
  const int64_t P = pa.P, n = pa.n, Q = pa.Q, nqb = (Q + kGatherBlock - 1) / kGatherBlock;
  if (out.numel() > 0) {
    dispatch_floating(a.dtype(), "gather", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = static_cast<const T*>(a.raw_data());
      T* o = static_cast<T*>(out.raw_data());
      parallel_for(0, P * n, std::max<int64_t>(1, 16384 / Q), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const T* base = src + pa.pre[r / n];
          const int64_t* ix = idx.data() + r * Q;
          for (int64_t q = 0; q < Q; ++q) o[r * Q + q] = base[ix[q] * pa.st_dim + pa.post[q]];
        }
      });
    });
  }
  const Shape a_shape = a.shape();
  return record(kGatherOp, out, {a}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gc = g.contiguous();
    Tensor d = Tensor::zeros(a_shape, g.dtype());
    if (g.numel() == 0) return {d};
    const GatherPlan pd = gather_plan(ishape, d.strides(), dim);
    dispatch_floating(g.dtype(), "gather_backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* gp = static_cast<const T*>(gc.raw_data());
      T* dp = static_cast<T*>(d.raw_data());
      const int64_t per_task = n * std::min(Q, kGatherBlock);
      parallel_for(0, P * nqb, std::max<int64_t>(1, 16384 / std::max<int64_t>(per_task, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t task = b; task < e; ++task) {
                       const int64_t p = task / nqb, q0 = (task % nqb) * kGatherBlock;
                       const int64_t q1 = std::min(Q, q0 + kGatherBlock);
                       T* base = dp + pd.pre[p];
                       for (int64_t j = 0; j < n; ++j) {
                         const int64_t r = p * n + j;
                         for (int64_t q = q0; q < q1; ++q)
                           base[idx[r * Q + q] * pd.st_dim + pd.post[q]] += gp[r * Q + q];
                       }
                     }
                   });
    });
    return {d};
  });
}

}  // namespace kiln
