// See batch_norm_cpu.h.
#include "core/kernels/batch_norm_cpu.h"

#include <algorithm>
#include <type_traits>

#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

int64_t channel_grain(int64_t per_channel) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(per_channel, 1));
}

}  // namespace

template <typename T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, T* mean, T* var) {
  const int64_t m = n * inner;
  parallel_for(0, c, channel_grain(m), [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      Acc<T> s = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) s += p[j];
      }
      const Acc<T> mu = m ? s / m : Acc<T>(0);
      Acc<T> ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) ss += (p[j] - mu) * (p[j] - mu);
      }
      mean[ch] = static_cast<T>(mu);
      var[ch] = static_cast<T>(m ? ss / m : Acc<T>(0));
    }
  });
}

template <typename T>
void batch_norm_forward(const T* x, int64_t n, int64_t c, int64_t inner, const T* mean,
                        const T* invstd, const T* w, const T* b, T* y) {
  parallel_for(0, n * c, channel_grain(inner), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t ch = r % c;
      // One scale and shift per channel: y = x * a + s.
      const T a = invstd[ch] * (w ? w[ch] : T(1));
      const T s = (b ? b[ch] : T(0)) - mean[ch] * a;
      const T* xp = x + r * inner;
      T* yp = y + r * inner;
      for (int64_t j = 0; j < inner; ++j) yp[j] = xp[j] * a + s;
    }
  });
}

template <typename T>
void batch_norm_backward(const T* gy, const T* x, int64_t n, int64_t c, int64_t inner,
                         const T* mean, const T* invstd, const T* w, bool batch_stats, T* gx, T* gw,
                         T* gb) {
  const int64_t m = n * inner;
  parallel_for(0, c, channel_grain(m), [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      const T mu = mean[ch], is = invstd[ch];
      Acc<T> sg = 0, sgx = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* gp = gy + (i * c + ch) * inner;
        const T* xp = x + (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          sg += gp[j];
          sgx += static_cast<Acc<T>>(gp[j]) * ((xp[j] - mu) * is);
        }
      }
      if (gw) gw[ch] = static_cast<T>(sgx);
      if (gb) gb[ch] = static_cast<T>(sg);
      if (!gx) continue;
      const T scale = is * (w ? w[ch] : T(1));
      const T mg = batch_stats && m ? static_cast<T>(sg / m) : T(0);
      const T mgx = batch_stats && m ? static_cast<T>(sgx / m) : T(0);
      for (int64_t i = 0; i < n; ++i) {
        const T* gp = gy + (i * c + ch) * inner;
        const T* xp = x + (i * c + ch) * inner;
        T* op = gx + (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) op[j] = scale * (gp[j] - mg - (xp[j] - mu) * is * mgx);
      }
    }
  });
}

#define KILN_BN_INSTANTIATE(T)                                                                  \
  template void batch_norm_stats<T>(const T*, int64_t, int64_t, int64_t, T*, T*);               \
  template void batch_norm_forward<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*,  \
                                      const T*, const T*, T*);                                  \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, \
                                       const T*, const T*, bool, T*, T*, T*);
KILN_BN_INSTANTIATE(float)
KILN_BN_INSTANTIATE(double)
#undef KILN_BN_INSTANTIATE

}  // namespace kiln::kernels
