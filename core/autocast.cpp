#include "core/autocast.h"

#include <map>
#include <tuple>

#include "core/kernels/bf16_convert.h"

namespace kiln {
namespace {

// One cached copy: valid while the source's storage is the same object at the same version and
// the view (offset, shape, strides) is the same.
struct CacheEntry {
  std::shared_ptr<Storage> storage;
  uint64_t version;
  Shape shape, strides;
  Tensor bf16;
};
using Bf16Cache = std::map<const void*, CacheEntry>;

thread_local bool t_bf16 = false;
thread_local Bf16Cache* t_cache = nullptr;

}  // namespace

bool bf16_autocast_enabled() {
  return t_bf16;
}

Bf16AutocastGuard::Bf16AutocastGuard(bool enabled) : prev_(t_bf16) {
  t_bf16 = enabled;
  if (enabled && t_cache == nullptr) {
    t_cache = new Bf16Cache();
    owns_cache_ = true;
  }
}

Bf16AutocastGuard::~Bf16AutocastGuard() {
  t_bf16 = prev_;
  if (owns_cache_) {
    delete t_cache;
    t_cache = nullptr;
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

Tensor bf16_weight(const Tensor& w) {
  if (t_cache == nullptr) return to_bf16_matrix(w);
  const void* key = w.raw_data();
  auto it = t_cache->find(key);
  const uint64_t version = w.storage()->version();
  if (it != t_cache->end() && it->second.storage == w.storage() && it->second.version == version &&
      it->second.shape == w.shape() && it->second.strides == w.strides())
    return it->second.bf16;
  Tensor b = to_bf16_matrix(w);
  (*t_cache)[key] = CacheEntry{w.storage(), version, w.shape(), w.strides(), b};
  return b;
}

int64_t bf16_weight_cache_size() {
  return t_cache ? static_cast<int64_t>(t_cache->size()) : 0;
}

}  // namespace kiln
