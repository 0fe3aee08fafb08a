// See conv2d_cpu.h. im2col layout: row r = (c, i, j) of the group's input channels and kernel
// taps, column p = (oy, ox); element = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] or 0 outside.
#include "core/kernels/conv2d_cpu.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "core/kernels/conv2d_common.h"
#include "core/kernels/conv2d_shifted.h"
#include "core/kernels/conv2d_winograd.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

using conv_detail::Acc;
using conv_detail::gemm_t;
using conv_detail::grain_for;
using conv_detail::scratch;

bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Samples per batched GEMM: as many as keep the [K, samples * P] column buffer under 16M
// elements. One GEMM over several samples instead of one per sample: the late DenseNet layers
// have P = 7x7 or 14x14 positions, far too few columns for a GEMM to pay for its set-up and its
// threads' synchronisation. Chunking never changes a result: each GEMM element is summed over K
// in the same fixed blocks whatever N is (core/gemm.h).
// A pointwise convolution over planes of kDirectPlane positions or more runs one sample at a
// time with its input, output and gradient rows in place (no column, staging or scatter copies):
// from 14 x 14 such a GEMM is wide enough alone. DenseNet121's training step at 8 x 224^2 with
// 1024 (only 56 x 56 planes in place): 992-1041 ms; with 196 (28 x 28 and 14 x 14 too): 942-1023
// ms, 2-5% faster in 6 of 7 interleaved pairs; with 49: no different from 196.
constexpr int64_t kDirectPlane = 196;

int64_t samples_per_chunk(const ConvGeometry& g, int64_t k, int64_t p) {
  if (is_pointwise(g) && p >= kDirectPlane) return 1;
  return std::clamp<int64_t>((int64_t(1) << 24) / std::max<int64_t>(k * p, 1), 1,
                             std::max<int64_t>(g.n, 1));
}

// A chunk whose GEMM operands and results are NCHW rows as they lie: one sample of an ungrouped
// pointwise convolution ([channels, P] rows, P = h * w).
bool in_place_rows(const ConvGeometry& g, int64_t nb) {
  return is_pointwise(g) && nb == 1 && g.groups == 1;
}

// For a unit column stride: the output columns [lo, hi) whose input column ox - pw + j * dw for
// kernel column j lies inside the image (the others read the zero padding).
std::pair<int64_t, int64_t> valid_columns(const ConvGeometry& g, int64_t j) {
  const int64_t shift = j * g.dw - g.pw;  // ix = ox + shift
  const int64_t lo = std::clamp<int64_t>(-shift, 0, g.ow);
  const int64_t hi = std::clamp<int64_t>(g.w - shift, lo, g.ow);
  return {lo, hi};
}

// Columns of samples [n0, n0 + nb), group gr: col[K, nb * P] (row stride ld = nb * P), sample s
// in columns [s * P, (s + 1) * P). For a pointwise convolution the rows are the input channels.
template <typename T>
void gather_columns(const ConvGeometry& g, const T* x, int64_t n0, int64_t nb, int64_t gr, T* col) {
  const int64_t cing = g.cin / g.groups, taps = g.kh * g.kw, P = g.oh * g.ow, ld = nb * P;
  const int64_t rows = cing * taps;
  parallel_for(0, nb * rows, grain_for(P), [&](int64_t ib, int64_t ie) {
    for (int64_t idx = ib; idx < ie; ++idx) {
      const int64_t s = idx / rows, r = idx % rows;
      const int64_t c = r / taps, i = (r % taps) / g.kw, j = r % g.kw;
      const T* xc = x + ((n0 + s) * g.cin + gr * cing + c) * g.h * g.w;
      T* dst = col + r * ld + s * P;
      if (is_pointwise(g)) {
        std::copy(xc, xc + P, dst);
        continue;
      }
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.sh - g.ph + i * g.dh;
        T* drow = dst + oy * g.ow;
        if (iy < 0 || iy >= g.h) {
          std::fill(drow, drow + g.ow, T(0));
          continue;
        }
        const T* xrow = xc + iy * g.w;
        if (g.sw == 1) {
          // Unit stride: the row is a zero margin, a contiguous copy and a zero margin.
          const auto [lo, hi] = valid_columns(g, j);
          std::fill(drow, drow + lo, T(0));
          const int64_t shift = j * g.dw - g.pw;
          std::copy(xrow + lo + shift, xrow + hi + shift, drow + lo);
          std::fill(drow + hi, drow + g.ow, T(0));
          continue;
        }
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t ix = ox * g.sw - g.pw + j * g.dw;
          drow[ox] = (ix >= 0 && ix < g.w) ? xrow[ix] : T(0);
        }
      }
    }
  });
}

// The GEMM's column operand for samples [n0, n0 + nb), group gr: the input rows themselves for
// one sample of a pointwise convolution, otherwise `col` after gathering into it.
template <typename T>
const T* columns(const ConvGeometry& g, const T* x, int64_t n0, int64_t nb, int64_t gr, T* col) {
  if (is_pointwise(g) && nb == 1) return x + (n0 * g.cin + gr * (g.cin / g.groups)) * g.h * g.w;
  gather_columns(g, x, n0, nb, gr, col);
  return col;
}

// The inverse scatter: gx of samples [n0, n0 + nb), group gr, = the sum of the column entries
// landing on each pixel. One thread per (sample, channel), taps and positions in a fixed order,
// so the sums do not depend on the thread count.
template <typename T>
void scatter_columns(const ConvGeometry& g, const T* col, int64_t n0, int64_t nb, int64_t gr,
                     T* gx) {
  const int64_t cing = g.cin / g.groups, taps = g.kh * g.kw, P = g.oh * g.ow, ld = nb * P;
  parallel_for(0, nb * cing, grain_for(taps * P), [&](int64_t ib, int64_t ie) {
    for (int64_t idx = ib; idx < ie; ++idx) {
      const int64_t s = idx / cing, c = idx % cing;
      T* xc = gx + ((n0 + s) * g.cin + gr * cing + c) * g.h * g.w;
      if (is_pointwise(g)) {
        const T* src = col + c * ld + s * P;
        std::copy(src, src + P, xc);
        continue;
      }
      std::fill(xc, xc + g.h * g.w, T(0));
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t i = t / g.kw, j = t % g.kw;
        const T* src = col + (c * taps + t) * ld + s * P;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + i * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          T* xrow = xc + iy * g.w;
          const T* srow = src + oy * g.ow;
          if (g.sw == 1) {
            // Unit stride: one contiguous run of additions (the same sums in the same order).
            const auto [lo, hi] = valid_columns(g, j);
            const int64_t shift = j * g.dw - g.pw;
            for (int64_t ox = lo; ox < hi; ++ox) xrow[ox + shift] += srow[ox];
            continue;
          }
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const int64_t ix = ox * g.sw - g.pw + j * g.dw;
            if (ix >= 0 && ix < g.w) xrow[ix] += srow[ox];
          }
        }
      }
    }
  });
}

// Calls fn(image_row, matrix_row) for NCHW rows of samples [n0, n0 + nb), channels
// [c0, c0 + cn), and the rows of a [cn, nb * P] matrix whose sample s fills columns
// [s * P, (s + 1) * P): the layout change between a batched GEMM's operand and NCHW.
template <typename Img, typename Mat, typename Fn>
void for_each_row_pair(const ConvGeometry& g, int64_t channels, int64_t n0, int64_t nb, int64_t c0,
                       int64_t cn, Img* nchw, Mat* mat, Fn fn) {
  const int64_t P = g.oh * g.ow, ld = nb * P;
  parallel_for(0, nb * cn, grain_for(P), [&](int64_t ib, int64_t ie) {
    for (int64_t idx = ib; idx < ie; ++idx) {
      const int64_t s = idx / cn, c = idx % cn;
      fn(nchw + ((n0 + s) * channels + c0 + c) * P, mat + c * ld + s * P, c0 + c);
    }
  });
}

// The sizes and scratch buffers of one direction: columns [K, chunk * P] and a
// [Cout / groups, chunk * P] matrix of outputs (forward) or output gradients (backward).
template <typename T>
struct Batched {
  explicit Batched(const ConvGeometry& g)
      : coutg(g.cout / g.groups),
        K(g.cin / g.groups * g.kh * g.kw),
        P(g.oh * g.ow),
        chunk(samples_per_chunk(g, std::max(K, coutg), P)),
        col_t(scratch<T>(K * chunk * P)),
        mat_t(scratch<T>(coutg * chunk * P)),
        col(col_t.data<T>()),
        mat(mat_t.data<T>()) {}
  int64_t coutg, K, P, chunk;
  Tensor col_t, mat_t;
  T *col, *mat;
};

}  // namespace

// The shifted-plane path (conv2d_shifted.h) where it applies and its per-tap GEMMs are deep
// enough: with few input channels per group (an RGB stem) each tap's GEMM has a K of a handful
// and re-reads its output matrix kh * kw times, where im2col's one GEMM has K = cin * kh * kw.
constexpr int64_t kShiftedMinChannels = 16;

bool use_shifted(const ConvGeometry& g) {
  return conv2d_shifted_applies(g) && g.cin / g.groups >= kShiftedMinChannels;
}

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (use_shifted(g)) return conv2d_forward_shifted(g, x, w, b, y);
  const Batched<T> bt(g);
  conv_detail::for_each_chunk(g, bt.chunk, [&](int64_t n0, int64_t nb, int64_t gr) {
    const int64_t ld = nb * bt.P, P = bt.P;
    const T* cols = columns(g, x, n0, nb, gr, bt.col);
    if (in_place_rows(g, nb)) {
      // One sample of a pointwise conv: its [cout, P] output rows are the GEMM's C as they are
      // (no staging matrix and copy), the bias added in place (the same sum as the copy's).
      T* yn = y + n0 * g.cout * P;
      gemm_t(false, false, bt.coutg, P, bt.K, w, bt.K, cols, P, T(0), yn, P);
      if (b)
        parallel_for(0, g.cout, grain_for(P), [&](int64_t cb, int64_t ce) {
          for (int64_t c = cb; c < ce; ++c)
            for (T *yr = yn + c * P, *end = yr + P; yr < end; ++yr) *yr = *yr + b[c];
        });
      return;
    }
    gemm_t(false, false, bt.coutg, ld, bt.K, w + gr * bt.coutg * bt.K, bt.K, cols, ld, T(0), bt.mat,
           ld);
    for_each_row_pair(g, g.cout, n0, nb, gr * bt.coutg, bt.coutg, y, static_cast<const T*>(bt.mat),
                      [&](T* yr, const T* mr, int64_t c) {
                        const T bias = b ? b[c] : T(0);
                        for (int64_t p = 0; p < P; ++p) yr[p] = mr[p] + bias;
                      });
  });
}

template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw,
                     T* gb) {
  if constexpr (std::is_same_v<T, float>)
    if (conv2d_winograd_applies(g) && gx) {
      conv2d_backward_input_winograd(g, w, gy, gx);
      if (gw || gb) conv2d_backward_shifted(g, x, w, gy, static_cast<T*>(nullptr), gw, gb);
      return;
    }
  if (use_shifted(g)) return conv2d_backward_shifted(g, x, w, gy, gx, gw, gb);
  const Batched<T> bt(g);
  const int64_t P = bt.P;
  conv_detail::for_each_chunk(g, bt.chunk, [&](int64_t n0, int64_t nb, int64_t gr) {
    const int64_t ld = nb * P, coutg = bt.coutg, K = bt.K;
    const T* wg = w + gr * coutg * K;
    // One sample of a pointwise conv: gy's and gx's rows are the GEMMs' operand and output as
    // they are (the staging copies would move the same values: the same bits).
    const bool direct = in_place_rows(g, nb);
    const T* mat = bt.mat;
    if (direct)
      mat = gy + n0 * g.cout * P;
    else
      for_each_row_pair(g, g.cout, n0, nb, gr * coutg, coutg, gy, bt.mat,
                        [&](const T* src, T* mr, int64_t) { std::copy(src, src + P, mr); });
    if (gx) {
      if (direct) {
        gemm_t(true, false, K, P, coutg, wg, K, mat, P, T(0), gx + n0 * g.cin * P, P);
      } else {
        gemm_t(true, false, K, ld, coutg, wg, K, mat, ld, T(0), bt.col, ld);
        scatter_columns(g, bt.col, n0, nb, gr, gx);
      }
    }
    if (gw) {
      const T* cols = columns(g, x, n0, nb, gr, bt.col);
      gemm_t(false, true, coutg, K, ld, mat, ld, cols, ld, n0 == 0 ? T(0) : T(1),
             gw + gr * coutg * K, K);
    }
  });
  if (gb) conv_detail::bias_gradient(g, gy, gb);
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

#define KILN_CONV_INSTANTIATE(T)                                                                   \
  template void conv2d_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*);          \
  template void conv2d_backward<T>(const ConvGeometry&, const T*, const T*, const T*, T*, T*, T*); \
  template void conv2d_forward_reference<T>(const ConvGeometry&, const T*, const T*, const T*,     \
                                            T*);                                                   \
  template void conv2d_backward_reference<T>(const ConvGeometry&, const T*, const T*, const T*,    \
                                             T*, T*, T*);
KILN_CONV_INSTANTIATE(float)
KILN_CONV_INSTANTIATE(double)
#undef KILN_CONV_INSTANTIATE

}  // namespace kiln::kernels
