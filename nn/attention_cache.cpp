#include "nn/attention_cache.h"

#include <algorithm>
#include <set>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace kiln::nn {

namespace {

constexpr int64_t kMinCapacity = 64;

// A buffer like `like` [B, H, *, D] with `capacity` positions, its first `length` copied from
// `filled` (may be undefined when length is 0).
Tensor grown(const Tensor& filled, const Tensor& like, int64_t length, int64_t capacity) {
  Tensor buffer = Tensor::zeros({like.size(0), like.size(1), capacity, like.size(3)}, like.dtype());
  if (length > 0) copy_(slice(buffer, 2, 0, length), filled);
  return buffer;
}

}  // namespace

void AttentionCache::append(const Tensor& k, const Tensor& v) {
  if (grad_enabled()) {
    key = key.defined() ? concat({key, k}, 2) : k;
    value = value.defined() ? concat({value, v}, 2) : v;
    key_buffer_ = value_buffer_ = Tensor();
    length_ = key.size(2);
    return;
  }
  const int64_t n = k.size(2);
  if (!key_buffer_.defined() || length_ + n > key_buffer_.size(2) ||
      key_buffer_.size(0) != k.size(0)) {
    // First step, a full buffer, or keys that did not come from the buffer (a cache filled with
    // gradients on): start a buffer from what is cached now.
    length_ = key.defined() ? key.size(2) : 0;
    const int64_t capacity = std::max(kMinCapacity, 2 * (length_ + n));
    key_buffer_ = grown(key, k, length_, capacity);
    value_buffer_ = grown(value, v, length_, capacity);
  }
  copy_(slice(key_buffer_, 2, length_, length_ + n), k);
  copy_(slice(value_buffer_, 2, length_, length_ + n), v);
  length_ += n;
  key = slice(key_buffer_, 2, 0, length_);
  value = slice(value_buffer_, 2, 0, length_);
}

void AttentionCache::select_rows(const std::vector<int64_t>& rows) {
  if (!key.defined()) return;
  const int64_t batch = key.size(0), count = static_cast<int64_t>(rows.size());
  for (int64_t r : rows) KILN_CHECK(r >= 0 && r < batch, "cache row ", r, " of ", batch);
  NoGradGuard no_grad;
  if (!key_buffer_.defined() || count != batch) {
    const Tensor index = Tensor::from_ints(rows, {count});
    key = index_select(key, 0, index);
    value = index_select(value, 0, index);
    key_buffer_ = value_buffer_ = Tensor();  // the next append starts a buffer from these
    return;
  }
  // In place: row i takes row rows[i]. A source that is itself overwritten is read first.
  std::set<int64_t> overwritten;
  for (int64_t i = 0; i < count; ++i)
    if (rows[i] != i) overwritten.insert(i);
  std::vector<std::pair<Tensor, Tensor>> source(static_cast<size_t>(batch));
  for (int64_t i : overwritten) {
    const int64_t r = rows[i];
    if (overwritten.count(r) && !source[r].first.defined())
      source[r] = {clone(select(key, 0, r)), clone(select(value, 0, r))};
  }
  for (int64_t i : overwritten) {
    const int64_t r = rows[i];
    const bool saved = source[r].first.defined();
    copy_(select(key, 0, i), saved ? source[r].first : select(key, 0, r));
    copy_(select(value, 0, i), saved ? source[r].second : select(value, 0, r));
  }
}

}  // namespace kiln::nn
