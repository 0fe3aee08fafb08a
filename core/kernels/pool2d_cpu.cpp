// See pool2d_cpu.h.
#include "core/kernels/pool2d_cpu.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

int64_t plane_grain(const PoolGeometry& g) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(g.h * g.w + g.oh * g.ow, 1));
}

// A window's extent along one axis: [lo, hi) clipped to the input, and the padded extent that
// count_include_pad divides by (clipped to the padded input only).
struct Span {
  int64_t lo, hi, padded;
};
Span span(int64_t o, int64_t k, int64_t s, int64_t p, int64_t n) {
  const int64_t start = o * s - p;
  const int64_t end_padded = std::min(start + k, n + p);
  return {std::max<int64_t>(start, 0), std::min(start + k, n), end_padded - start};
}
Span adaptive_span(int64_t o, int64_t out, int64_t n) {
  const int64_t lo = (o * n) / out, hi = ((o + 1) * n + out - 1) / out;
  return {lo, hi, hi - lo};
}

template <typename T, typename SpanH, typename SpanW, typename Div>
void window_average(const PoolGeometry& g, const T* x, T* y, SpanH sh, SpanW sw, Div divisor) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const T* xp = x + p * g.h * g.w;
      T* yp = y + p * g.oh * g.ow;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const Span a = sh(oy);
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const Span b = sw(ox);
          Acc<T> s = 0;
          for (int64_t iy = a.lo; iy < a.hi; ++iy)
            for (int64_t ix = b.lo; ix < b.hi; ++ix) s += xp[iy * g.w + ix];
          yp[oy * g.ow + ox] = static_cast<T>(s / divisor(a, b));
        }
      }
    }
  });
}

template <typename T, typename SpanH, typename SpanW, typename Div>
void window_average_backward(const PoolGeometry& g, const T* gy, T* gx, SpanH sh, SpanW sw,
                             Div divisor) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      T* xp = gx + p * g.h * g.w;
      const T* yp = gy + p * g.oh * g.ow;
      std::fill(xp, xp + g.h * g.w, T(0));
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const Span a = sh(oy);
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const Span b = sw(ox);
          const T v = static_cast<T>(yp[oy * g.ow + ox] / divisor(a, b));
          for (int64_t iy = a.lo; iy < a.hi; ++iy)
            for (int64_t ix = b.lo; ix < b.hi; ++ix) xp[iy * g.w + ix] += v;
        }
      }
    }
  });
}

}  // namespace

// One step of a window's scan: v (at input index `idx`) replaces the best so far if larger; a
// NaN beats everything and is kept, as torch. NaN is tested first, on a branch that never goes
// the other way in practice, so the common comparison compiles to selects.
template <typename T>
inline void max_step(T v, int64_t idx, T& best, int64_t& at) {
  if (__builtin_expect(v != v, 0)) {
    if (best == best) best = v, at = idx;
    return;
  }
  const bool take = v > best;
  best = take ? v : best;
  at = take ? idx : at;
}

// Each window is scanned in row-major order, the first maximum winning (torch's argmax, which
// decides where the gradient goes when values tie, as ReLU's zeros do). Four windows with no
// clipping are scanned side by side: four independent chains instead of one (a window's scan is
// a chain of dependent compares: the stem's pool was 1.8% of a DenseNet121 training step). Each
// window's steps are the same in the same order either way.
template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax) {
  constexpr int kSide = 4;
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const T* xp = x + p * g.h * g.w;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const Span a = span(oy, g.kh, g.sh, g.ph, g.h);
        const int64_t row = p * g.oh * g.ow + oy * g.ow;
        for (int64_t ox = 0; ox < g.ow;) {
          const Span b = span(ox, g.kw, g.sw, g.pw, g.w);
          const Span e = span(ox + kSide - 1, g.kw, g.sw, g.pw, g.w);  // last of the four
          if (ox + kSide <= g.ow && b.hi - b.lo == g.kw && e.hi - e.lo == g.kw) {
            T best[kSide];
            int64_t at[kSide];
            for (int k = 0; k < kSide; ++k)
              best[k] = -std::numeric_limits<T>::infinity(), at[k] = a.lo * g.w + b.lo + k * g.sw;
            for (int64_t iy = a.lo; iy < a.hi; ++iy)
              for (int64_t t = 0; t < g.kw; ++t)
                for (int k = 0; k < kSide; ++k) {
                  const int64_t idx = iy * g.w + b.lo + k * g.sw + t;
                  max_step(xp[idx], idx, best[k], at[k]);
                }
            for (int k = 0; k < kSide; ++k) y[row + ox + k] = best[k], argmax[row + ox + k] = at[k];
            ox += kSide;
            continue;
          }
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = a.lo * g.w + b.lo;
          for (int64_t iy = a.lo; iy < a.hi; ++iy)
            for (int64_t ix = b.lo; ix < b.hi; ++ix)
              max_step(xp[iy * g.w + ix], iy * g.w + ix, best, at);
          y[row + ox] = best;
          argmax[row + ox] = at;
          ++ox;
        }
      }
    }
  });
}

template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* gy, const int64_t* argmax, T* gx) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      T* xp = gx + p * g.h * g.w;
      std::fill(xp, xp + g.h * g.w, T(0));
      for (int64_t o = p * g.oh * g.ow; o < (p + 1) * g.oh * g.ow; ++o) xp[argmax[o]] += gy[o];
    }
  });
}

template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y) {
  window_average(
      g, x, y, [&](int64_t o) { return span(o, g.kh, g.sh, g.ph, g.h); },
      [&](int64_t o) { return span(o, g.kw, g.sw, g.pw, g.w); },
      [&](const Span& a, const Span& b) {
        return g.count_include_pad ? Acc<T>(a.padded * b.padded)
                                   : Acc<T>((a.hi - a.lo) * (b.hi - b.lo));
      });
}

template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, const T* gy, T* gx) {
  window_average_backward(
      g, gy, gx, [&](int64_t o) { return span(o, g.kh, g.sh, g.ph, g.h); },
      [&](int64_t o) { return span(o, g.kw, g.sw, g.pw, g.w); },
      [&](const Span& a, const Span& b) {
        return g.count_include_pad ? Acc<T>(a.padded * b.padded)
                                   : Acc<T>((a.hi - a.lo) * (b.hi - b.lo));
      });
}

template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y) {
  window_average(
      g, x, y, [&](int64_t o) { return adaptive_span(o, g.oh, g.h); },
      [&](int64_t o) { return adaptive_span(o, g.ow, g.w); },
      [](const Span& a, const Span& b) { return Acc<T>(a.padded * b.padded); });
}

template <typename T>
void adaptive_avg_pool2d_backward(const PoolGeometry& g, const T* gy, T* gx) {
  window_average_backward(
      g, gy, gx, [&](int64_t o) { return adaptive_span(o, g.oh, g.h); },
      [&](int64_t o) { return adaptive_span(o, g.ow, g.w); },
      [](const Span& a, const Span& b) { return Acc<T>(a.padded * b.padded); });
}

#define KILN_POOL_INSTANTIATE(T)                                                           \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int64_t*);        \
  template void max_pool2d_backward<T>(const PoolGeometry&, const T*, const int64_t*, T*); \
  template void avg_pool2d_forward<T>(const PoolGeometry&, const T*, T*);                  \
  template void avg_pool2d_backward<T>(const PoolGeometry&, const T*, T*);                 \
  template void adaptive_avg_pool2d_forward<T>(const PoolGeometry&, const T*, T*);         \
  template void adaptive_avg_pool2d_backward<T>(const PoolGeometry&, const T*, T*);
KILN_POOL_INSTANTIATE(float)
KILN_POOL_INSTANTIATE(double)
#undef KILN_POOL_INSTANTIATE

}  // namespace kiln::kernels
