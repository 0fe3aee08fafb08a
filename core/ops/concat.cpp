// concat and stack: join tensors along an existing (concat) or a new (stack) dimension.
// Why here and like this: transformer code concatenates heads, KV-cache steps and batches, so the
// forward writes each part straight into its slot of one preallocated output through copy_ (which
// coalesces dimensions, turning contiguous parts into long memmoves, and reads strided parts in
// place, in parallel). Parts must share a dtype (no silent promotion) and may be empty along the
// joined dimension. The backward is the adjoint of the copy: each part's gradient is the matching
// slice of the incoming gradient, a view, so it costs nothing until someone reads it.
#include "core/autograd.h"
#include "core/op_registry.h"
#include "core/ops.h"

namespace kiln {

KILN_OP(kConcatOp, "concat", true);
KILN_OP(kStackOp, "stack", true);

namespace {

void check_dtypes(const std::vector<Tensor>& parts, const char* op) {
  KILN_CHECK(!parts.empty(), op, ": expected at least one tensor");
  for (size_t i = 1; i < parts.size(); ++i)
    KILN_CHECK(parts[i].dtype() == parts[0].dtype(), op, ": dtype mismatch, part 0 is ",
               parts[0].describe(), " but part ", i, " is ", parts[i].describe());
}

}  // namespace

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  check_dtypes(parts, "concat");
  // As torch.cat: a 1-D empty part is skipped whatever the other parts' rank (legacy placeholder).
  const Tensor* ref = nullptr;
  for (const Tensor& p : parts)
    if (!(p.dim() == 1 && p.numel() == 0)) {
      ref = &p;
      break;
    }
  if (!ref) ref = &parts[0];
  KILN_CHECK(ref->dim() >= 1, "concat: cannot concatenate 0-d tensors (use stack)");
  dim = wrap_dim(dim, ref->dim(), "concat");
  Shape out_shape = ref->shape();
  out_shape[dim] = 0;
  std::vector<int64_t> sizes(parts.size(), 0);
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    if (p.dim() == 1 && p.numel() == 0 && ref->dim() != 1) continue;
    KILN_CHECK(p.dim() == ref->dim(), "concat: part ", i, " ", p.describe(),
               " has a different rank from ", ref->describe());
    for (int64_t d = 0; d < p.dim(); ++d)
      KILN_CHECK(d == dim || p.size(d) == ref->size(d), "concat: part ", i, " ", p.describe(),
                 " does not match ", ref->describe(), " outside dimension ", dim);
    sizes[i] = p.size(dim);
    out_shape[dim] += sizes[i];
  }
  Tensor out = Tensor::empty(out_shape, ref->dtype());
  {
    NoGradGuard ng;
    int64_t at = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (sizes[i] > 0) copy_(slice(out, dim, at, at + sizes[i]), parts[i]);
      at += sizes[i];
    }
  }
  std::vector<bool> wants(parts.size());
  std::vector<Shape> shapes(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    wants[i] = parts[i].requires_grad();
    shapes[i] = parts[i].shape();
  }
  return record(kConcatOp, out, parts, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads(sizes.size());
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (wants[i])
        grads[i] = shapes[i].size() == g.shape().size() ? slice(g, dim, at, at + sizes[i])
                                                        : Tensor::zeros(shapes[i], g.dtype());
      at += sizes[i];
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& parts, int64_t dim) {
  check_dtypes(parts, "stack");
  const Shape& shape = parts[0].shape();
  for (size_t i = 1; i < parts.size(); ++i)
    KILN_CHECK(parts[i].shape() == shape, "stack: part ", i, " ", parts[i].describe(),
               " does not match part 0 ", parts[0].describe());
  dim = wrap_dim(dim, parts[0].dim() + 1, "stack");
  Shape out_shape = shape;
  out_shape.insert(out_shape.begin() + dim, static_cast<int64_t>(parts.size()));
  Tensor out = Tensor::empty(out_shape, parts[0].dtype());
  if (out.numel() > 0) {
    NoGradGuard ng;
    for (size_t i = 0; i < parts.size(); ++i)
      copy_(select(out, dim, static_cast<int64_t>(i)), parts[i]);
  }
  std::vector<bool> wants(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) wants[i] = parts[i].requires_grad();
  return record(kStackOp, out, parts, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads(wants.size());
    for (size_t i = 0; i < wants.size(); ++i)
      if (wants[i]) grads[i] = select(g, dim, static_cast<int64_t>(i));
    return grads;
  });
}

}  // namespace kiln
