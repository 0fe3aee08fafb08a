// See conv2d_cpu.h. im2col layout: row r = (c, i, j) of the group's input channels and kernel
// taps, column p = (oy, ox); element = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] or 0 outside.
#include "core/kernels/conv2d_cpu.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/gemm.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm::sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
            const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm::dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Grain so that a task moves at least ~16k elements.
int64_t grain_for(int64_t per_item) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(per_item, 1));
}

// col[K, P] from the `cing` channels starting at xs (one sample, one group).
template <typename T>
void im2col(const ConvGeometry& g, const T* xs, int64_t cing, T* col) {
  const int64_t taps = g.kh * g.kw, P = g.oh * g.ow;
  parallel_for(0, cing * taps, grain_for(P), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t c = r / taps, i = (r % taps) / g.kw, j = r % g.kw;
      const T* xc = xs + c * g.h * g.w;
      T* dst = col + r * P;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.sh - g.ph + i * g.dh;
        T* drow = dst + oy * g.ow;
        if (iy < 0 || iy >= g.h) {
          std::fill(drow, drow + g.ow, T(0));
          continue;
        }
        const T* xrow = xc + iy * g.w;
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t ix = ox * g.sw - g.pw + j * g.dw;
          drow[ox] = (ix >= 0 && ix < g.w) ? xrow[ix] : T(0);
        }
      }
    }
  });
}

// xs[cing, H, W] = sum of col's entries landing on each pixel. One thread per channel, taps and
// positions in a fixed order, so the sums do not depend on the thread count.
template <typename T>
void col2im(const ConvGeometry& g, const T* col, int64_t cing, T* xs) {
  const int64_t taps = g.kh * g.kw, P = g.oh * g.ow;
  parallel_for(0, cing, grain_for(taps * P), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      T* xc = xs + c * g.h * g.w;
      std::fill(xc, xc + g.h * g.w, T(0));
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t i = t / g.kw, j = t % g.kw;
        const T* src = col + (c * taps + t) * P;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + i * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          T* xrow = xc + iy * g.w;
          const T* srow = src + oy * g.ow;
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const int64_t ix = ox * g.sw - g.pw + j * g.dw;
            if (ix >= 0 && ix < g.w) xrow[ix] += srow[ox];
          }
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t cing = g.cin / g.groups, coutg = g.cout / g.groups;
  const int64_t K = cing * g.kh * g.kw, P = g.oh * g.ow, HW = g.h * g.w;
  const bool pw = is_pointwise(g);
  std::vector<T> col(pw ? 0 : static_cast<size_t>(K * P));
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const T* xs = x + (n * g.cin + gr * cing) * HW;
      const T* bmat = xs;
      if (!pw) {
        im2col(g, xs, cing, col.data());
        bmat = col.data();
      }
      T* ys = y + (n * g.cout + gr * coutg) * P;
      gemm_t(false, false, coutg, P, K, w + gr * coutg * K, K, bmat, P, T(0), ys, P);
    }
  }
  if (!b) return;
  parallel_for(0, g.n * g.cout, grain_for(P), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T bias = b[r % g.cout];
      T* yr = y + r * P;
      for (int64_t p = 0; p < P; ++p) yr[p] += bias;
    }
  });
}

template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw,
                     T* gb) {
  const int64_t cing = g.cin / g.groups, coutg = g.cout / g.groups;
  const int64_t K = cing * g.kh * g.kw, P = g.oh * g.ow, HW = g.h * g.w;
  const bool pw = is_pointwise(g);
  std::vector<T> col(pw ? 0 : static_cast<size_t>(K * P));
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const T* gys = gy + (n * g.cout + gr * coutg) * P;
      const T* wg = w + gr * coutg * K;
      if (gx) {
        T* gxs = gx + (n * g.cin + gr * cing) * HW;
        if (pw) {
          gemm_t(true, false, K, P, coutg, wg, K, gys, P, T(0), gxs, P);
        } else {
          gemm_t(true, false, K, P, coutg, wg, K, gys, P, T(0), col.data(), P);
          col2im(g, col.data(), cing, gxs);
        }
      }
      if (gw) {
        const T* xs = x + (n * g.cin + gr * cing) * HW;
        const T* bmat = xs;
        if (!pw) {
          im2col(g, xs, cing, col.data());
          bmat = col.data();
        }
        gemm_t(false, true, coutg, K, P, gys, P, bmat, P, n == 0 ? T(0) : T(1), gw + gr * coutg * K,
               K);
      }
    }
  }
  if (!gb) return;
  parallel_for(0, g.cout, grain_for(g.n * P), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      Acc<T> s = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* r = gy + (n * g.cout + c) * P;
        for (int64_t p = 0; p < P; ++p) s += r[p];
      }
      gb[c] = static_cast<T>(s);
    }
  });
}

template <typename T>
void conv2d_forward_reference(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t cing = g.cin / g.groups, coutg = g.cout / g.groups;
  parallel_for(0, g.n * g.cout, 1, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t n = r / g.cout, co = r % g.cout, gr = co / coutg;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          Acc<T> s = b ? b[co] : T(0);
          for (int64_t c = 0; c < cing; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t iy = oy * g.sh - g.ph + i * g.dh, ix = ox * g.sw - g.pw + j * g.dw;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                s += static_cast<Acc<T>>(x[((n * g.cin + gr * cing + c) * g.h + iy) * g.w + ix]) *
                     w[((co * cing + c) * g.kh + i) * g.kw + j];
              }
          y[(r * g.oh + oy) * g.ow + ox] = static_cast<T>(s);
        }
    }
  });
}

template <typename T>
void conv2d_backward_reference(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx,
                               T* gw, T* gb) {
  const int64_t cing = g.cin / g.groups, coutg = g.cout / g.groups;
  auto gy_at = [&](int64_t n, int64_t co, int64_t oy, int64_t ox) {
    return gy[((n * g.cout + co) * g.oh + oy) * g.ow + ox];
  };
  if (gx) {
    // Gather form: input pixel (iy, ix) receives tap (i, j) from output (oy, ox) when
    // oy*sh - ph + i*dh == iy, so each input element is written by one thread.
    parallel_for(0, g.n * g.cin, 1, [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        const int64_t n = r / g.cin, ci = r % g.cin, gr = ci / cing, c = ci % cing;
        for (int64_t iy = 0; iy < g.h; ++iy)
          for (int64_t ix = 0; ix < g.w; ++ix) {
            Acc<T> s = 0;
            for (int64_t co = gr * coutg; co < (gr + 1) * coutg; ++co)
              for (int64_t i = 0; i < g.kh; ++i)
                for (int64_t j = 0; j < g.kw; ++j) {
                  const int64_t ty = iy + g.ph - i * g.dh, tx = ix + g.pw - j * g.dw;
                  if (ty < 0 || tx < 0 || ty % g.sh || tx % g.sw) continue;
                  const int64_t oy = ty / g.sh, ox = tx / g.sw;
                  if (oy >= g.oh || ox >= g.ow) continue;
                  s += static_cast<Acc<T>>(gy_at(n, co, oy, ox)) *
                       w[((co * cing + c) * g.kh + i) * g.kw + j];
                }
            gx[(r * g.h + iy) * g.w + ix] = static_cast<T>(s);
          }
      }
    });
  }
  if (gw) {
    parallel_for(0, g.cout, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t co = cb; co < ce; ++co) {
        const int64_t gr = co / coutg;
        for (int64_t c = 0; c < cing; ++c)
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              Acc<T> s = 0;
              for (int64_t n = 0; n < g.n; ++n)
                for (int64_t oy = 0; oy < g.oh; ++oy)
                  for (int64_t ox = 0; ox < g.ow; ++ox) {
                    const int64_t iy = oy * g.sh - g.ph + i * g.dh,
                                  ix = ox * g.sw - g.pw + j * g.dw;
                    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                    s += static_cast<Acc<T>>(gy_at(n, co, oy, ox)) *
                         x[((n * g.cin + gr * cing + c) * g.h + iy) * g.w + ix];
                  }
              gw[((co * cing + c) * g.kh + i) * g.kw + j] = static_cast<T>(s);
            }
      }
    });
  }
  if (gb) {
    for (int64_t co = 0; co < g.cout; ++co) {
      Acc<T> s = 0;
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t p = 0; p < g.oh * g.ow; ++p) s += gy[(n * g.cout + co) * g.oh * g.ow + p];
      gb[co] = static_cast<T>(s);
    }
  }
}

#define KILN_CONV_INSTANTIATE(T)                                                                  \
  template void conv2d_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*);         \
  template void conv2d_backward<T>(const ConvGeometry&, const T*, const T*, const T*, T*, T*,     \
                                   T*);                                                           \
  template void conv2d_forward_reference<T>(const ConvGeometry&, const T*, const T*, const T*,    \
                                            T*);                                                  \
  template void conv2d_backward_reference<T>(const ConvGeometry&, const T*, const T*, const T*, T*, \
                                             T*, T*);
KILN_CONV_INSTANTIATE(float)
KILN_CONV_INSTANTIATE(double)
#undef KILN_CONV_INSTANTIATE

}  // namespace kiln::kernels
