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

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const T* xp = x + p * g.h * g.w;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const Span a = span(oy, g.kh, g.sh, g.ph, g.h);
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const Span b = span(ox, g.kw, g.sw, g.pw, g.w);
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = a.lo * g.w + b.lo;
          for (int64_t iy = a.lo; iy < a.hi; ++iy)
            for (int64_t ix = b.lo; ix < b.hi; ++ix) {
              const T v = xp[iy * g.w + ix];
              // NaN propagates, as torch: a NaN beats everything and is kept.
              if (v > best || (v != v && best == best)) best = v, at = iy * g.w + ix;
            }
          const int64_t o = p * g.oh * g.ow + oy * g.ow + ox;
          y[o] = best;
          argmax[o] = at;
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
