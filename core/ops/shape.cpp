// Views (reshape, permute, slice, select, expand, squeeze, unsqueeze), copies and casts.
// Views share storage with their input; their backward maps the gradient back to the input's shape.
#include <algorithm>
#include <numeric>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/strided_loop.h"

namespace kiln {

KILN_OP(kReshapeOp, "reshape", true);
KILN_OP(kPermuteOp, "permute", true);
KILN_OP(kSliceOp, "slice", true);
KILN_OP(kSelectOp, "select", true);
KILN_OP(kExpandOp, "expand", true);
KILN_OP(kSqueezeOp, "squeeze", true);
KILN_OP(kUnsqueezeOp, "unsqueeze", true);
KILN_OP(kCloneOp, "clone", true);
KILN_OP(kCastOp, "cast", true);

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  const int64_t r = std::max<int64_t>(rank, 1);
  KILN_CHECK(dim >= -r && dim < r, op, ": dimension ", dim, " out of range for a ", rank,
             "-d tensor (expected ", -r, "..", r - 1, ")");
  return dim < 0 ? dim + r : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    KILN_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
               " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  const size_t n = out_shape.size(), r = t.shape().size();
  KILN_CHECK(r <= n, "cannot broadcast ", t.describe(), " to ", shape_str(out_shape));
  Shape st(n, 0);
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = t.shape()[i];
    const int64_t od = out_shape[n - r + i];
    KILN_CHECK(d == od || d == 1, "cannot broadcast ", t.describe(), " to ", shape_str(out_shape));
    st[n - r + i] = (d == 1 && od != 1) ? 0 : t.strides()[i];
  }
  return st;
}

namespace {

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Shape infer_shape(const Shape& requested, int64_t numel, const Tensor& a) {
  Shape s = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      KILN_CHECK(infer_at < 0, "reshape: more than one -1 in ", shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      KILN_CHECK(s[i] >= 0, "reshape: invalid size in ", shape_str(requested));
      known *= s[i];
    }
  }
  if (infer_at >= 0) {
    KILN_CHECK(known != 0 && numel % known == 0, "reshape: cannot reshape ", a.describe(), " to ",
               shape_str(requested));
    s[infer_at] = numel / known;
  }
  KILN_CHECK(shape_numel(s) == numel, "reshape: cannot reshape ", a.describe(), " to ",
             shape_str(requested));
  return s;
}

}  // namespace

void begin_in_place_write(const Tensor& dst, const char* op) {
  KILN_CHECK(!(grad_enabled() && dst.requires_grad()), op,
             ": in-place write into a tensor that requires grad");
  KILN_CHECK(dst.storage()->writable(), "in-place write into read-only ", dst.describe(),
             " (a view of a mapped file); clone() it first");
  dst.storage()->bump_version();
}

namespace {

// copy_ without begin_in_place_write, for in-place ops that already began their write.
void copy_into(const Tensor& dst, const Tensor& src) {
  const Shape& shape = dst.shape();
  const Shape sst = broadcast_strides(src, shape);
  auto view = make_strided_view<2>(
      shape, {static_cast<char*>(dst.raw_data()), static_cast<char*>(src.raw_data())},
      {dst.strides(), sst}, {dtype_size(dst.dtype()), dtype_size(src.dtype())});
  dispatch_all(dst.dtype(), [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_all(src.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      for_each_run(view, [&](std::array<char*, 2> p, std::array<int64_t, 2> st, int64_t n) {
        if constexpr (std::is_same_v<D, S>) {
          if (st[0] == sizeof(D) && st[1] == sizeof(S)) {
            std::memmove(p[0], p[1], static_cast<size_t>(n) * sizeof(D));
            return;
          }
          for (int64_t i = 0; i < n; ++i)
            *reinterpret_cast<D*>(p[0] + i * st[0]) = *reinterpret_cast<const S*>(p[1] + i * st[1]);
        } else {
          for (int64_t i = 0; i < n; ++i)
            store_from_double<D>(p[0] + i * st[0], load_as_double<S>(p[1] + i * st[1]));
        }
      });
    });
  });
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src) {
  begin_in_place_write(dst, "copy_");
  copy_into(dst, src);
}

void fill_(const Tensor& dst, double value) {
  begin_in_place_write(dst, "fill_");
  Tensor v = Tensor::empty({}, dst.dtype());
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    store_from_double<T>(v.raw_data(), value);
  });
  copy_into(dst, v);
}

Tensor reshape(const Tensor& a, const Shape& shape) {
  const Shape s = infer_shape(shape, a.numel(), a);
  Tensor src = a.is_contiguous() ? a : clone(a);
  Tensor out = make_view(src, s, contiguous_strides(s), src.offset());
  const Shape in_shape = a.shape();
  return record(kReshapeOp, out, {src}, [in_shape](const Tensor& g) -> std::vector<Tensor> {
    return {reshape(g, in_shape)};
  });
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  const int64_t r = a.dim();
  KILN_CHECK(static_cast<int64_t>(dims.size()) == r, "permute: ", dims.size(), " dims for ",
             a.describe());
  Shape shape(r), strides(r);
  std::vector<int64_t> inverse(r, -1);
  for (int64_t i = 0; i < r; ++i) {
    const int64_t d = wrap_dim(dims[i], r, "permute");
    KILN_CHECK(inverse[d] < 0, "permute: dimension ", d, " repeated");
    inverse[d] = i;
    shape[i] = a.shape()[d];
    strides[i] = a.strides()[d];
  }
  Tensor out = make_view(a, shape, strides, a.offset());
  return record(kPermuteOp, out, {a}, [inverse](const Tensor& g) -> std::vector<Tensor> {
    return {permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, a.dim(), "transpose")], dims[wrap_dim(d1, a.dim(), "transpose")]);
  return permute(a, dims);
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap_dim(dim, a.dim(), "slice");
  KILN_CHECK(step >= 1, "slice: step must be positive, got ", step);
  const int64_t n = a.shape()[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = a.shape(), strides = a.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor out = make_view(a, shape, strides, a.offset() + start * a.strides()[dim]);
  const Shape in_shape = a.shape();
  return record(kSliceOp, out, {a}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor full = Tensor::zeros(in_shape, g.dtype());
    copy_(slice(full, dim, start, end, step), g);
    return {full};
  });
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  dim = wrap_dim(dim, a.dim(), "select");
  const int64_t n = a.shape()[dim];
  KILN_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dim ", dim,
             " of size ", n);
  if (index < 0) index += n;
  Shape shape = a.shape(), strides = a.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(a, shape, strides, a.offset() + index * a.strides()[dim]);
  const Shape in_shape = a.shape();
  return record(kSelectOp, out, {a}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor full = Tensor::zeros(in_shape, g.dtype());
    copy_(select(full, dim, index), g);
    return {full};
  });
}

Tensor expand(const Tensor& a, const Shape& shape) {
  KILN_CHECK(shape.size() >= a.shape().size(), "expand: cannot expand ", a.describe(), " to ",
             shape_str(shape));
  Shape target = shape;
  const size_t lead = shape.size() - a.shape().size();
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      KILN_CHECK(i >= lead, "expand: -1 is not allowed for new leading dimensions");
      target[i] = a.shape()[i - lead];
    }
  }
  Tensor out = make_view(a, target, broadcast_strides(a, target), a.offset());
  const Shape in_shape = a.shape();
  return record(kExpandOp, out, {a}, [in_shape](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, in_shape)};
  });
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  dim = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape shape = a.shape(), strides = a.strides();
  const int64_t st = dim < a.dim() ? a.strides()[dim] * a.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  Tensor out = make_view(a, shape, strides, a.offset());
  return record(kUnsqueezeOp, out, {a},
                [dim](const Tensor& g) -> std::vector<Tensor> { return {squeeze(g, dim)}; });
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  dim = wrap_dim(dim, a.dim(), "squeeze");
  KILN_CHECK(a.shape()[dim] == 1, "squeeze: dimension ", dim, " of ", a.describe(), " is not 1");
  Shape shape = a.shape(), strides = a.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(a, shape, strides, a.offset());
  return record(kSqueezeOp, out, {a},
                [dim](const Tensor& g) -> std::vector<Tensor> { return {unsqueeze(g, dim)}; });
}

Tensor clone(const Tensor& a) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  {
    NoGradGuard ng;
    copy_(out, a);
  }
  return record(kCloneOp, out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor contiguous(const Tensor& a) {
  return a.is_contiguous() ? a : clone(a);
}

Tensor cast(const Tensor& a, DType dtype) {
  Tensor out = Tensor::empty(a.shape(), dtype);
  {
    NoGradGuard ng;
    copy_(out, a);
  }
  if (!is_floating(dtype)) return out;  // integer results carry no gradient
  const DType in_dtype = a.dtype();
  return record(kCastOp, out, {a},
                [in_dtype](const Tensor& g) -> std::vector<Tensor> { return {cast(g, in_dtype)}; });
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, a.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    KILN_CHECK(s >= 0, "split: negative size");
    total += s;
  }
  KILN_CHECK(total == a.shape()[dim], "split: sizes sum to ", total, " but dimension ", dim, " of ",
             a.describe(), " has ", a.shape()[dim]);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(a, dim, start, start + s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  KILN_CHECK(chunks > 0, "chunk: chunks must be positive");
  dim = wrap_dim(dim, a.dim(), "chunk");
  const int64_t n = a.shape()[dim];
  const int64_t each = (n + chunks - 1) / chunks;
  std::vector<int64_t> sizes;
  for (int64_t s = 0; s < n; s += each) sizes.push_back(std::min(each, n - s));
  if (sizes.empty()) sizes.push_back(0);
  return split(a, sizes, dim);
}

}  // namespace kiln
