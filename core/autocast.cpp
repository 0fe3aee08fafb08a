#include "core/autocast.h"

#include <memory>

#include "core/kernels/bf16_convert.h"

namespace kiln {
namespace {

// The last input bf16_input converted. The storage is held weakly: the entry must not keep an
// f32 activation alive, and once that storage is gone its address may be reused by another one,
// which a dead weak pointer tells apart.
struct LastInput {
  std::weak_ptr<Storage> storage;
  const void* data = nullptr;
  uint64_t version = 0;
  Shape shape, strides;
  Tensor bf16;
};

thread_local bool t_bf16 = false;
thread_local LastInput* t_last_input = nullptr;

}  // namespace

bool bf16_autocast_enabled() {
  return t_bf16;
}

Bf16AutocastGuard::Bf16AutocastGuard(bool enabled) : prev_(t_bf16) {
  t_bf16 = enabled;
  if (enabled && t_last_input == nullptr) {
    t_last_input = new LastInput();
    owns_cache_ = true;
  }
}

Bf16AutocastGuard::~Bf16AutocastGuard() {
  t_bf16 = prev_;
  if (owns_cache_) {
    delete t_last_input;
    t_last_input = nullptr;
  }
}

Tensor to_bf16_matrix(const Tensor& x) {
  KILN_CHECK(x.dim() == 2 && x.dtype() == DType::F32,
             "to_bf16_matrix: expected a 2-D f32 tensor, got ", x.describe());
  const int64_t rows = x.size(0), cols = x.size(1);
  Tensor out = Tensor::empty({rows, cols}, DType::BF16);
  if (rows == 0 || cols == 0) return out;
  Tensor src = x;
  if (x.strides()[1] != 1 || (rows > 1 && x.strides()[0] < cols)) src = x.contiguous();
  const int64_t ld = rows > 1 ? src.strides()[0] : cols;
  kernels::f32_to_bf16_matrix(src.data<float>(), ld, rows, cols, out.data<uint16_t>());
  return out;
}

Tensor bf16_input(const Tensor& x) {
  if (t_last_input == nullptr) return to_bf16_matrix(x);
  LastInput& last = *t_last_input;
  const std::shared_ptr<Storage>& storage = x.storage();
  if (last.bf16.defined() && storage != nullptr && last.storage.lock() == storage &&
      last.version == storage->version() && last.data == x.raw_data() && last.shape == x.shape() &&
      last.strides == x.strides())
    return last.bf16;
  Tensor b = to_bf16_matrix(x);
  if (storage == nullptr) return b;
  last = LastInput{storage, x.raw_data(), storage->version(), x.shape(), x.strides(), b};
  return b;
}

}  // namespace kiln
