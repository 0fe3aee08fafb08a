// Tensor: a typed, strided view (shape, strides, offset) over shared Storage, plus autograd state.
// Copying a Tensor copies the handle, not the data. View operations (reshape of contiguous data,
// permute, transpose, slice, select, expand, squeeze/unsqueeze) never copy; they are ops like any
// other and record a backward node when gradients are wanted (see core/ops.h, core/autograd.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace kiln {

using Shape = std::vector<int64_t>;

class Node;
class Tensor;
class Generator;

// Everything autograd keeps per tensor. Created lazily: tensors that never touch autograd
// (inference under NoGradGuard) pay one null pointer.
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;         // set on results of recorded ops
  std::shared_ptr<Tensor> grad;          // accumulated gradient of a leaf
  std::weak_ptr<Node> grad_accumulator;  // leaf's accumulation node, shared by all its uses
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  std::unique_ptr<AutogradMeta> autograd;
};

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);
  // Copies `values` (converted to dtype) into a new tensor of the given shape.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::F32);
  static Tensor from_floats(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ints(const std::vector<int64_t>& values, const Shape& shape,
                          DType dtype = DType::I64);
  // Zero-copy view of external memory (e.g. an mmap'd file); `keepalive` keeps it valid.
  static Tensor from_blob(const void* data, const Shape& shape, DType dtype,
                          std::shared_ptr<const void> keepalive);
  // The same over read-only pages of a mapped file (see Storage::wrap_file_mapping).
  static Tensor from_file_mapping(const void* data, const Shape& shape, DType dtype,
                                  std::shared_ptr<const void> keepalive);
  static Tensor arange(int64_t n, DType dtype = DType::I64);
  // Seeded random tensors; see core/rng.h for the thread-count-independent streams.
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32);
  static Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::F32);
  // (fill_randn_ in core/ops.h fills an existing tensor from the same stream.)

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  std::string describe() const;  // "f32[2, 3]"

  // Raw pointer to element 0 of this view (storage base + offset).
  void* raw_data() const;
  template <typename T>
  T* data() const;  // checks that T matches dtype

  // ---- element access (tests, small tensors) ----
  double item() const;  // one-element tensor
  double at(const std::vector<int64_t>& index) const;
  std::vector<double> to_vector() const;  // logical order, any dtype
  std::vector<float> to_floats() const;
  std::vector<int64_t> to_ints() const;

  // ---- copies and conversions (recorded by autograd where differentiable) ----
  Tensor contiguous() const;  // self if already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;

  // ---- views (see core/ops.h for the op versions; these forward to them) ----
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;

  // ---- autograd ----
  bool requires_grad() const { return impl_ && impl_->autograd && impl_->autograd->requires_grad; }
  // Marks a leaf as a parameter/input whose gradient is wanted. Throws on non-floating dtypes.
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return !grad_fn(); }
  std::shared_ptr<Node> grad_fn() const;
  Tensor grad() const;  // undefined until a backward reached this leaf
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the accumulated gradient
  // Reverse-mode backward from this tensor. `grad` defaults to 1 for one-element tensors.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // Same data, no history, requires_grad false.
  Tensor detach() const;

  TensorImpl& impl() const {
    KILN_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::F64;
};
template <>
struct dtype_of<int8_t> {
  static constexpr DType value = DType::I8;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::U8;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::I32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::I64;
};

template <typename T>
T* Tensor::data() const {
  if constexpr (std::is_same_v<T, uint16_t>) {
    KILN_CHECK(dtype() == DType::BF16 || dtype() == DType::F16, "data<uint16_t>() on a ",
               dtype_name(dtype()), " tensor");
  } else {
    KILN_CHECK(dtype() == dtype_of<T>::value, "data<", dtype_name(dtype_of<T>::value), ">() on a ",
               dtype_name(dtype()), " tensor");
  }
  return static_cast<T*>(raw_data());
}

}  // namespace kiln
