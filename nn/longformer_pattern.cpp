#include "nn/longformer_pattern.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::nn {

namespace {

constexpr uint8_t kPadding = 0, kLocal = 1, kGlobal = 2;

Tensor u8_tensor(const std::vector<uint8_t>& values, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::U8);
  std::copy(values.begin(), values.end(), t.data<uint8_t>());
  return t;
}

int64_t blocks_of(int64_t length, int64_t half) {
  return (length + half - 1) / half;
}

}  // namespace

LongformerPattern::LongformerPattern(std::vector<uint8_t> kinds, int64_t batch, int64_t length)
    : kinds_(std::move(kinds)), batch_(batch), length_(length) {
  KILN_CHECK(static_cast<int64_t>(kinds_.size()) == batch * length,
             "LongformerPattern: ", kinds_.size(), " kinds for ", batch, " x ", length);
  std::vector<std::vector<int64_t>> globals(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < length; ++i) {
      const uint8_t k = kinds_[static_cast<size_t>(b * length + i)];
      KILN_CHECK(k <= kGlobal, "LongformerPattern: kind ", int(k), " is not 0, 1 or 2");
      if (k == kGlobal) globals[static_cast<size_t>(b)].push_back(i);
    }
    max_globals_ = std::max<int64_t>(max_globals_, globals[static_cast<size_t>(b)].size());
  }
  const int64_t g_max = max_globals_;
  std::vector<int64_t> rows(static_cast<size_t>(batch * g_max)),
      slots(static_cast<size_t>(batch * length), 0);
  std::vector<uint8_t> empty(static_cast<size_t>(batch * g_max)),
      global(static_cast<size_t>(batch * length)), real(static_cast<size_t>(batch * length));
  for (int64_t b = 0; b < batch; ++b) {
    const auto& mine = globals[static_cast<size_t>(b)];
    for (int64_t g = 0; g < g_max; ++g) {
      const bool used = g < static_cast<int64_t>(mine.size());
      rows[b * g_max + g] = b * length + (used ? mine[g] : 0);
      empty[b * g_max + g] = used ? 0 : 1;
      if (used) slots[b * length + mine[g]] = b * g_max + g;
    }
  }
  for (size_t i = 0; i < kinds_.size(); ++i) {
    global[i] = kinds_[i] == kGlobal;
    real[i] = kinds_[i] != kPadding;
  }
  global_rows_ = Tensor::from_ints(rows, {batch * g_max});
  empty_slots_ = u8_tensor(empty, {batch, 1, 1, 1, g_max});
  slot_of_row_ = Tensor::from_ints(slots, {batch * length});
  is_global_ = u8_tensor(global, {batch, length, 1});
  not_padding_ = u8_tensor(real, {batch, length});
}

Tensor LongformerPattern::hidden_local_keys(int64_t half) const {
  const int64_t blocks = blocks_of(length_, half), span = 3 * half;
  std::vector<uint8_t> hidden(static_cast<size_t>(batch_ * blocks * half * span));
  size_t n = 0;
  for (int64_t b = 0; b < batch_; ++b) {
    const uint8_t* kinds = kinds_.data() + b * length_;
    for (int64_t c = 0; c < blocks; ++c) {
      for (int64_t r = 0; r < half; ++r) {
        const int64_t query = c * half + r;
        for (int64_t k = 0; k < span; ++k) {
          const int64_t key = c * half - half + k;
          const bool visible = key >= query - half && key <= query + half && key >= 0 &&
                               key < length_ && kinds[key] == kLocal;
          hidden[n++] = visible ? 0 : 1;
        }
      }
    }
  }
  return u8_tensor(hidden, {batch_, 1, blocks, half, span});
}

Tensor LongformerPattern::silent_queries(int64_t half) const {
  const int64_t blocks = blocks_of(length_, half);
  std::vector<uint8_t> silent(static_cast<size_t>(batch_ * blocks * half), 1);
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t i = 0; i < length_; ++i)
      silent[b * blocks * half + i] = kinds_[b * length_ + i] == kPadding;
  return u8_tensor(silent, {batch_, 1, blocks, half, 1});
}

}  // namespace kiln::nn
