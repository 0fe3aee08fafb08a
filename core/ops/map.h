// Element-wise map kernels shared by op implementations: map1/map2/map3 apply a generic lambda to
// 1-3 broadcast operands of one floating dtype and return a new contiguous tensor. They record no
// autograd history themselves; the calling op does. Contiguous operands take a tight,
// vectorisable loop; anything else goes through the strided loop.
#pragma once

#include <array>

#include "core/dispatch.h"
#include "core/strided_loop.h"

namespace kiln::detail {

// Writes f(in...) into `out`, which has the broadcast shape and dtype of the inputs. `out` may be
// one of the inputs (an in-place op): each element is read before it is written.
template <size_t N, typename F>
void map_n_into(const char* op, const Tensor& out, const std::array<const Tensor*, N>& in, F f) {
  const Shape& shape = out.shape();
  const DType dt = in[0]->dtype();
  dispatch_floating(dt, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::array<char*, N + 1> base;
    std::array<Shape, N + 1> strides;
    std::array<size_t, N + 1> sizes;
    base[0] = static_cast<char*>(out.raw_data());
    strides[0] = out.strides();
    sizes.fill(sizeof(T));
    for (size_t k = 0; k < N; ++k) {
      base[k + 1] = static_cast<char*>(in[k]->raw_data());
      strides[k + 1] = broadcast_strides(*in[k], shape);
    }
    auto view = make_strided_view<N + 1>(shape, base, strides, sizes);
    for_each_run(view, [&](std::array<char*, N + 1> p, std::array<int64_t, N + 1> st, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      constexpr auto kUnit = static_cast<int64_t>(sizeof(T));
      bool contiguous = true;
      for (size_t k = 0; k <= N; ++k) contiguous &= st[k] == kUnit;
      if constexpr (N == 2) {
        // A tensor and a broadcast scalar (mul(t, 0.5), add(t, 1), ...): a tight loop as well.
        if (st[0] == kUnit && st[1] == kUnit && st[2] == 0) {
          const T* a = reinterpret_cast<const T*>(p[1]);
          const T b = *reinterpret_cast<const T*>(p[2]);
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b);
          return;
        }
      }
      if (contiguous) {
        if constexpr (N == 1) {
          const T* a = reinterpret_cast<const T*>(p[1]);
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
        } else if constexpr (N == 2) {
          const T* a = reinterpret_cast<const T*>(p[1]);
          const T* b = reinterpret_cast<const T*>(p[2]);
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
        } else {
          const T* a = reinterpret_cast<const T*>(p[1]);
          const T* b = reinterpret_cast<const T*>(p[2]);
          const T* c = reinterpret_cast<const T*>(p[3]);
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i], c[i]);
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        auto ld = [&](size_t k) { return *reinterpret_cast<const T*>(p[k] + i * st[k]); };
        T* dst = reinterpret_cast<T*>(p[0] + i * st[0]);
        if constexpr (N == 1)
          *dst = f(ld(1));
        else if constexpr (N == 2)
          *dst = f(ld(1), ld(2));
        else
          *dst = f(ld(1), ld(2), ld(3));
      }
    });
  });
}

template <size_t N, typename F>
Tensor map_n(const char* op, const std::array<const Tensor*, N>& in, F f) {
  Shape shape = in[0]->shape();
  for (size_t k = 1; k < N; ++k) {
    KILN_CHECK(in[k]->dtype() == in[0]->dtype(), op, ": dtype mismatch, ", in[0]->describe(),
               " vs ", in[k]->describe());
    shape = broadcast_shapes(shape, in[k]->shape());
  }
  Tensor out = Tensor::empty(shape, in[0]->dtype());
  map_n_into<N>(op, out, in, f);
  return out;
}

template <typename F>
Tensor map1(const char* op, const Tensor& a, F f) {
  return map_n<1>(op, {&a}, f);
}
template <typename F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, F f) {
  return map_n<2>(op, {&a, &b}, f);
}
template <typename F>
Tensor map3(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  return map_n<3>(op, {&a, &b, &c}, f);
}

}  // namespace kiln::detail
