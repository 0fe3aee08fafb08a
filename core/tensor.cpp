#include "core/tensor.h"

#include <cstring>
#include <sstream>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/strided_loop.h"

namespace kiln {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

namespace {
void check_shape(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    KILN_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
    KILN_CHECK(d == 0 || n <= (int64_t{1} << 48) / d, "shape ", shape_str(shape), " is too large");
    n *= d;
  }
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  check_shape(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  fill_(t, value);
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}
Tensor Tensor::scalar(double value, DType dtype) {
  return full({}, value, dtype);
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  KILN_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_vector: ", values.size(),
             " values for shape ", shape_str(shape));
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(t.raw_data());
    for (size_t i = 0; i < values.size(); ++i) store_from_double<T>(p + i, values[i]);
  });
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, const Shape& shape) {
  Tensor t = empty(shape, DType::F32);
  KILN_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_floats: ", values.size(),
             " values for shape ", shape_str(shape));
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_ints(const std::vector<int64_t>& values, const Shape& shape, DType dtype) {
  std::vector<double> v(values.begin(), values.end());
  return from_vector(v, shape, dtype);
}

namespace {
Tensor borrowed_tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::from_blob(const void* data, const Shape& shape, DType dtype,
                         std::shared_ptr<const void> keepalive) {
  check_shape(shape);
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return borrowed_tensor(Storage::wrap(const_cast<void*>(data), nbytes, std::move(keepalive)),
                         shape, dtype);
}

Tensor Tensor::from_file_mapping(const void* data, const Shape& shape, DType dtype,
                                 std::shared_ptr<const void> keepalive) {
  check_shape(shape);
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return borrowed_tensor(Storage::wrap_file_mapping(data, nbytes, std::move(keepalive)), shape,
                         dtype);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, {n}, dtype);
}

namespace {
// t[i] = scale * draw(seed, start + i) rounded once to t's dtype, over a reserved block of the
// stream (scale 1 is exact, so randn/rand are the scale-1 case).
template <typename Draw>
void fill_random(const Tensor& t, Generator& gen, Draw draw, double scale) {
  KILN_CHECK(is_floating(t.dtype()), "random tensors must be floating point, got ",
             dtype_name(t.dtype()));
  const int64_t n = t.numel();
  const uint64_t start = gen.reserve(static_cast<uint64_t>(n));
  const uint64_t seed = gen.seed();
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(t.raw_data());
    parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) store_from_double<T>(p + i, draw(seed, start + i) * scale);
    });
  });
}
}  // namespace

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_random(t, gen, Generator::normal_at, 1.0);
  return t;
}
Tensor Tensor::rand(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_random(t, gen, Generator::uniform64_at, 1.0);
  return t;
}

void fill_randn_(const Tensor& t, Generator& gen, double std) {
  KILN_CHECK(t.is_contiguous() && t.storage()->writable(), "fill_randn_: ", t.describe(),
             " must be contiguous and writable");
  begin_in_place_write(t, "fill_randn_");
  fill_random(t, gen, Generator::normal_at, std);
}

int64_t Tensor::size(int64_t d) const {
  return shape()[wrap_dim(d, dim(), "size")];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  const auto& sh = shape();
  const auto& st = strides();
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) +
         impl().offset * static_cast<int64_t>(dtype_size(dtype()));
}

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "item() on a tensor with ", numel(), " elements ", describe());
  return dispatch_all(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    return load_as_double<T>(raw_data());
  });
}

double Tensor::at(const std::vector<int64_t>& index) const {
  KILN_CHECK(static_cast<int64_t>(index.size()) == dim(), "at(): ", index.size(), " indices for a ",
             dim(), "-d tensor");
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    KILN_CHECK(index[d] >= 0 && index[d] < shape()[d], "at(): index ", index[d],
               " out of range for dim ", d, " of size ", shape()[d]);
    off += index[d] * strides()[d];
  }
  return dispatch_all(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    return load_as_double<T>(static_cast<const T*>(raw_data()) + off);
  });
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = contiguous();
  std::vector<double> out(static_cast<size_t>(numel()));
  dispatch_all(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(c.raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = load_as_double<T>(p + i);
  });
  return out;
}

std::vector<float> Tensor::to_floats() const {
  auto v = to_vector();
  return std::vector<float>(v.begin(), v.end());
}

std::vector<int64_t> Tensor::to_ints() const {
  auto v = to_vector();
  std::vector<int64_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<int64_t>(v[i]);
  return out;
}

Tensor Tensor::contiguous() const {
  return kiln::contiguous(*this);
}
Tensor Tensor::clone() const {
  return kiln::clone(*this);
}
Tensor Tensor::to(DType dt) const {
  return dt == dtype() ? *this : cast(*this, dt);
}
Tensor Tensor::reshape(const Shape& s) const {
  return kiln::reshape(*this, s);
}
Tensor Tensor::permute(const std::vector<int64_t>& d) const {
  return kiln::permute(*this, d);
}
Tensor Tensor::transpose(int64_t a, int64_t b) const {
  return kiln::transpose(*this, a, b);
}
Tensor Tensor::slice(int64_t d, int64_t s, int64_t e, int64_t st) const {
  return kiln::slice(*this, d, s, e, st);
}
Tensor Tensor::select(int64_t d, int64_t i) const {
  return kiln::select(*this, d, i);
}
Tensor Tensor::expand(const Shape& s) const {
  return kiln::expand(*this, s);
}
Tensor Tensor::unsqueeze(int64_t d) const {
  return kiln::unsqueeze(*this, d);
}
Tensor Tensor::squeeze(int64_t d) const {
  return kiln::squeeze(*this, d);
}

Tensor& Tensor::set_requires_grad(bool on) {
  auto& im = impl();
  KILN_CHECK(!on || is_floating(im.dtype), "only floating-point tensors can require grad, got ",
             describe());
  KILN_CHECK(!im.autograd || !im.autograd->grad_fn,
             "set_requires_grad on a non-leaf tensor (call detach() first)");
  if (!im.autograd) im.autograd = std::make_unique<AutogradMeta>();
  im.autograd->requires_grad = on;
  return *this;
}

std::shared_ptr<Node> Tensor::grad_fn() const {
  return impl_ && impl_->autograd ? impl_->autograd->grad_fn : nullptr;
}

Tensor Tensor::grad() const {
  if (!impl_ || !impl_->autograd || !impl_->autograd->grad) return Tensor();
  return *impl_->autograd->grad;
}

void Tensor::set_grad(const Tensor& g) const {
  auto& im = impl();
  if (!im.autograd) im.autograd = std::make_unique<AutogradMeta>();
  if (!g.defined()) {
    im.autograd->grad.reset();
    return;
  }
  KILN_CHECK(g.shape() == shape(), "set_grad: gradient ", g.describe(), " for tensor ", describe());
  im.autograd->grad = std::make_shared<Tensor>(g);
}

void Tensor::zero_grad() const {
  if (impl_ && impl_->autograd) impl_->autograd->grad.reset();
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  run_backward({*this}, {grad}, retain_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

}  // namespace kiln
