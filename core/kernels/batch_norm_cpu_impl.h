// Loop bodies of core/kernels/batch_norm_cpu.h, included by the plain and the AVX-512 translation
// units, each inside its own namespace (KILN_BN_NS). Both builds are compiled without FMA
// contraction (the AVX-512 file gets -ffp-contract=off in core/CMakeLists.txt) and do the same
// operations in the same order (element j of a row always goes to f64 lane j % 8), so their
// results are bit-identical: the AVX-512 build only does 8 lanes per instruction where the
// baseline build does 2 (batch norm's backward was 10% of a DenseNet121 training step).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"

namespace kiln::kernels::KILN_BN_NS {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

int64_t channel_grain(int64_t per_channel) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(per_channel, 1));
}

// Adds term(j) for j in [0, len) into `lanes` partial sums, element j going to lane j % kLanes.
// Why lanes: one f64 accumulator is a chain of dependent additions (4 cycles each), which made
// the statistics and the backward sums several times slower than reading the data. The lane of
// each element and the final combination (lane_total) are fixed, so results stay independent of
// the thread count.
constexpr int kLanes = 8;

template <typename A, typename Term>
void add_lanes(A (&lanes)[kLanes], int64_t len, Term term) {
  int64_t j = 0;
  for (; j + kLanes <= len; j += kLanes)
    for (int k = 0; k < kLanes; ++k) lanes[k] += term(j + k);
  for (int k = 0; j < len; ++j, ++k) lanes[k] += term(j);
}

template <typename A>
A lane_total(const A (&lanes)[kLanes]) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

}  // namespace

template <typename T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, T* mean, T* var) {
  const int64_t m = n * inner;
  parallel_for(0, c, channel_grain(m), [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      Acc<T> s[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * inner;
        add_lanes(s, inner, [p](int64_t j) { return Acc<T>(p[j]); });
      }
      const Acc<T> mu = m ? lane_total(s) / m : Acc<T>(0);
      Acc<T> ss[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * inner;
        add_lanes(ss, inner, [p, mu](int64_t j) {
          const Acc<T> d = p[j] - mu;
          return d * d;
        });
      }
      mean[ch] = static_cast<T>(mu);
      var[ch] = static_cast<T>(m ? lane_total(ss) / m : Acc<T>(0));
    }
  });
}

template <typename T>
void batch_norm_forward(const T* x, int64_t n, int64_t c, int64_t inner, const T* mean,
                        const T* invstd, const T* w, const T* b, T* y, bool relu) {
  parallel_for(0, n * c, channel_grain(inner), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t ch = r % c;
      // One scale and shift per channel: y = x * a + s.
      const T a = invstd[ch] * (w ? w[ch] : T(1));
      const T s = (b ? b[ch] : T(0)) - mean[ch] * a;
      const T* xp = x + r * inner;
      T* yp = y + r * inner;
      if (relu) {
        for (int64_t j = 0; j < inner; ++j) {
          const T v = xp[j] * a + s;
          yp[j] = v > T(0) ? v : T(0);
        }
      } else {
        for (int64_t j = 0; j < inner; ++j) yp[j] = xp[j] * a + s;
      }
    }
  });
}

// With relu_out (batch_norm_relu), the output gradient is masked where it is <= 0. A masked row is
// first written to a per-task row buffer by a branch-free loop (in cache, read right after):
// selecting inside the summing loops compiled to a branch on the sign, which mispredicts on
// half the elements and made the fused backward slower than the two ops apart.
template <typename T>
void batch_norm_backward(const T* gy, const T* x, int64_t n, int64_t c, int64_t inner,
                         const T* mean, const T* invstd, const T* w, bool batch_stats, T* gx, T* gw,
                         T* gb, const T* relu_out) {
  const int64_t m = n * inner;
  parallel_for(0, c, channel_grain(m), [&](int64_t cb, int64_t ce) {
    std::vector<T> masked(relu_out ? static_cast<size_t>(inner) : 0);
    // The output gradient of row `row` (sample i, channel ch), masked where relu_out is given.
    auto grad_row = [&](int64_t row) -> const T* {
      if (!relu_out) return gy + row;
      const T* g = gy + row;
      const T* y = relu_out + row;
      T* mk = masked.data();
      for (int64_t j = 0; j < inner; ++j) {
        const T gv = g[j], yv = y[j];  // both loaded unconditionally: the select vectorises
        mk[j] = yv > T(0) ? gv : T(0);
      }
      return mk;
    };
    for (int64_t ch = cb; ch < ce; ++ch) {
      const T mu = mean[ch], is = invstd[ch];
      Acc<T> sg_lanes[kLanes] = {}, sgx_lanes[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = (i * c + ch) * inner;
        const T* gp = grad_row(row);
        const T* xp = x + row;
        add_lanes(sg_lanes, inner, [gp](int64_t j) { return Acc<T>(gp[j]); });
        add_lanes(sgx_lanes, inner, [gp, xp, mu, is](int64_t j) {
          return static_cast<Acc<T>>(gp[j]) * ((xp[j] - mu) * is);
        });
      }
      const Acc<T> sg = lane_total(sg_lanes), sgx = lane_total(sgx_lanes);
      if (gw) gw[ch] = static_cast<T>(sgx);
      if (gb) gb[ch] = static_cast<T>(sg);
      if (!gx) continue;
      const T scale = is * (w ? w[ch] : T(1));
      const T mg = batch_stats && m ? static_cast<T>(sg / m) : T(0);
      const T mgx = batch_stats && m ? static_cast<T>(sgx / m) : T(0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = (i * c + ch) * inner;
        const T* gp = grad_row(row);
        const T* xp = x + row;
        T* op = gx + row;
        for (int64_t j = 0; j < inner; ++j) op[j] = scale * (gp[j] - mg - (xp[j] - mu) * is * mgx);
      }
    }
  });
}

}  // namespace kiln::kernels::KILN_BN_NS

// Explicit instantiations of the three kernels for element type T in the enclosing namespace:
// each build's (plain, avx512) and the dispatching ones in batch_norm_cpu.cpp.
#define KILN_BN_INSTANTIATE(T)                                                                  \
  template void batch_norm_stats<T>(const T*, int64_t, int64_t, int64_t, T*, T*);               \
  template void batch_norm_forward<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*,  \
                                      const T*, const T*, T*, bool);                            \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, \
                                       const T*, const T*, bool, T*, T*, T*, const T*);
