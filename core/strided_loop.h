// The loop under every element-wise kernel: walks N operands that share one logical shape (inputs
// already broadcast, i.e. stride 0 on broadcast dims) and hands the kernel runs of the innermost
// dimension: inner(ptrs, byte_strides, n). Dimensions are coalesced first, so contiguous tensors
// become one long run. Runs are split over the thread pool; each output element is written by
// exactly one run, so results do not depend on the thread count.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln {

template <size_t N>
struct StridedView {
  Shape shape;                                 // coalesced
  std::array<char*, N> base{};                 // byte pointer of element 0 per operand
  std::array<std::vector<int64_t>, N> stride;  // byte strides per operand, per coalesced dim
};

// Strides of `t` re-expressed for broadcasting to `out_shape` (in elements, 0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& out_shape);

template <size_t N>
StridedView<N> make_strided_view(const Shape& shape, const std::array<char*, N>& base,
                                 const std::array<Shape, N>& elem_strides,
                                 const std::array<size_t, N>& elem_size) {
  StridedView<N> v;
  v.base = base;
  // Drop size-1 dims, then merge dim d into d+1 when every operand is contiguous across them.
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    dims.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k)
      st[k].push_back(elem_strides[k][d] * static_cast<int64_t>(elem_size[k]));
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    if (!v.shape.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k)
        if (v.stride[k].back() != st[k][d] * dims[d]) mergeable = false;
      if (mergeable) {
        v.shape.back() *= dims[d];
        for (size_t k = 0; k < N; ++k) v.stride[k].back() = st[k][d];
        continue;
      }
    }
    v.shape.push_back(dims[d]);
    for (size_t k = 0; k < N; ++k) v.stride[k].push_back(st[k][d]);
  }
  return v;
}

template <size_t N, typename Inner>
void for_each_run(const StridedView<N>& v, Inner&& inner, int64_t grain_elems = 32768) {
  for (int64_t s : v.shape)
    if (s == 0) return;
  const size_t nd = v.shape.size();
  if (nd == 0) {
    std::array<int64_t, N> zs{};
    inner(v.base, zs, int64_t{1});
    return;
  }
  const int64_t inner_n = v.shape[nd - 1];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = v.stride[k][nd - 1];
  int64_t outer = 1;
  for (size_t d = 0; d + 1 < nd; ++d) outer *= v.shape[d];

  if (outer == 1) {
    // One long run: split it into pieces.
    parallel_for(0, inner_n, grain_elems, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = v.base[k] + b * inner_stride[k];
      inner(p, inner_stride, e - b);
    });
    return;
  }
  const int64_t grain_rows = std::max<int64_t>(1, grain_elems / std::max<int64_t>(1, inner_n));
  parallel_for(0, outer, grain_rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      std::array<char*, N> p = v.base;
      int64_t rem = r;
      for (size_t d = nd - 1; d-- > 0;) {
        const int64_t idx = rem % v.shape[d];
        rem /= v.shape[d];
        for (size_t k = 0; k < N; ++k) p[k] += idx * v.stride[k][d];
      }
      inner(p, inner_stride, inner_n);
    }
  });
}

}  // namespace kiln
