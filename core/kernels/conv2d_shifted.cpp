// See conv2d_shifted.h. Notation: a chunk holds samples [n0, n0 + nb); every plane is Hp x Wp =
// (h + 2 ph) x (w + 2 pw) positions, the chunk's planes side by side (N = nb * plane columns).
// Output position (oy, ox) of sample s sits at column s * plane + oy * Wp + ox, and reads input
// column (that + off(i, j)) for tap (i, j), off = i * dh * Wp + j * dw. Columns with ox >= ow
// or oy >= oh are padding: computed in the forward and dropped, zero in the backward.
#include "core/kernels/conv2d_shifted.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/kernels/conv2d_common.h"

namespace kiln::kernels {
namespace {

using conv_detail::gemm_t;
using conv_detail::grain_for;
using conv_detail::scratch;

struct Planes {
  explicit Planes(const ConvGeometry& g, int64_t max_chunk_elements)
      : cing(g.cin / g.groups),
        coutg(g.cout / g.groups),
        taps(g.kh * g.kw),
        Hp(g.h + 2 * g.ph),
        Wp(g.w + 2 * g.pw),
        plane(Hp * Wp),
        off_max((g.kh - 1) * g.dh * Wp + (g.kw - 1) * g.dw) {
    KILN_CHECK(g.oh == Hp - g.dh * (g.kh - 1) && g.ow == Wp - g.dw * (g.kw - 1),
               "conv2d_shifted: output size does not follow from a unit stride");
    chunk = std::clamp<int64_t>(
        max_chunk_elements / std::max<int64_t>(std::max(cing, coutg) * plane, 1), 1,
        std::max<int64_t>(g.n, 1));
  }
  int64_t offset(int64_t tap, const ConvGeometry& g) const {
    return tap / g.kw * g.dh * Wp + tap % g.kw * g.dw;
  }
  int64_t cing, coutg, taps, Hp, Wp, plane, off_max, chunk;
};

// Weights of group gr by tap: wt[tap][co][c] = w[gr * coutg + co][c][tap].
template <typename T>
std::vector<T> weights_by_tap(const Planes& pl, const T* w, int64_t gr) {
  std::vector<T> wt(static_cast<size_t>(pl.taps * pl.coutg * pl.cing));
  const T* wg = w + gr * pl.coutg * pl.cing * pl.taps;
  for (int64_t co = 0; co < pl.coutg; ++co)
    for (int64_t c = 0; c < pl.cing; ++c)
      for (int64_t t = 0; t < pl.taps; ++t)
        wt[static_cast<size_t>((t * pl.coutg + co) * pl.cing + c)] =
            wg[(co * pl.cing + c) * pl.taps + t];
  return wt;
}

// dst[c][s * plane + r * Wp + q] for rows [0, Hp) and columns [0, Wp) of each of `channels`
// planes of samples [n0, n0 + nb): src's rows [r0, r0 + rows) x [q0, q0 + cols) of channel
// (c0 + c) placed at rows [top, top + rows), columns [left, left + cols), zero elsewhere; zeros
// also in [nb * plane, ld) after the last plane (the slack the shifted reads run into).
// src has `src_channels` channels of src_h x src_w per sample.
template <typename T>
void place_planes(const Planes& pl, const T* src, int64_t src_channels, int64_t src_h,
                  int64_t src_w, int64_t n0, int64_t nb, int64_t c0, int64_t channels, int64_t top,
                  int64_t left, int64_t rows, int64_t cols, T* dst, int64_t ld, int64_t lead) {
  parallel_for(0, channels * nb, grain_for(pl.plane), [&](int64_t b, int64_t e) {
    for (int64_t idx = b; idx < e; ++idx) {
      const int64_t c = idx / nb, s = idx % nb;
      T* base = dst + c * ld + lead;
      T* d = base + s * pl.plane;
      const T* sp = src + ((n0 + s) * src_channels + c0 + c) * src_h * src_w;
      std::fill(d, d + top * pl.Wp, T(0));
      for (int64_t r = 0; r < rows; ++r) {
        T* drow = d + (top + r) * pl.Wp;
        std::fill(drow, drow + left, T(0));
        std::copy(sp + r * src_w, sp + r * src_w + cols, drow + left);
        std::fill(drow + left + cols, drow + pl.Wp, T(0));
      }
      std::fill(d + (top + rows) * pl.Wp, d + pl.plane, T(0));
      if (s == 0) std::fill(dst + c * ld, base, T(0));                             // lead margin
      if (s == nb - 1) std::fill(base + nb * pl.plane, dst + (c + 1) * ld, T(0));  // slack
    }
  });
}

// The inverse: out[(n0 + s, c0 + c)] rows x cols = m[c][s * plane + (top + r) * Wp + left + q].
template <typename T, typename Fn>
void take_planes(const Planes& pl, const T* m, int64_t ld, int64_t out_channels, int64_t out_h,
                 int64_t out_w, int64_t n0, int64_t nb, int64_t c0, int64_t channels, int64_t top,
                 int64_t left, T* out, Fn value) {
  parallel_for(0, channels * nb, grain_for(out_h * out_w), [&](int64_t b, int64_t e) {
    for (int64_t idx = b; idx < e; ++idx) {
      const int64_t c = idx / nb, s = idx % nb;
      const T* sp = m + c * ld + s * pl.plane;
      T* op = out + ((n0 + s) * out_channels + c0 + c) * out_h * out_w;
      for (int64_t r = 0; r < out_h; ++r) {
        const T* mrow = sp + (top + r) * pl.Wp + left;
        T* orow = op + r * out_w;
        for (int64_t q = 0; q < out_w; ++q) orow[q] = value(mrow[q], c0 + c);
      }
    }
  });
}

}  // namespace

bool conv2d_shifted_applies(const ConvGeometry& g) {
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.ph == 0 && g.pw == 0;
  return g.sh == 1 && g.sw == 1 && !pointwise;
}

template <typename T>
void conv2d_forward_shifted(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                            int64_t max_chunk_elements) {
  const Planes pl(g, max_chunk_elements);
  const int64_t ldx = pl.chunk * pl.plane + pl.off_max, ldy = pl.chunk * pl.plane;
  Tensor xpad_t = scratch<T>(pl.cing * ldx), ym_t = scratch<T>(pl.coutg * ldy);
  T *xpad = xpad_t.data<T>(), *ym = ym_t.data<T>();
  std::vector<std::vector<T>> wt(static_cast<size_t>(g.groups));
  for (int64_t gr = 0; gr < g.groups; ++gr) wt[static_cast<size_t>(gr)] = weights_by_tap(pl, w, gr);
  conv_detail::for_each_chunk(g, pl.chunk, [&](int64_t n0, int64_t nb, int64_t gr) {
    const int64_t N = nb * pl.plane, ld_x = N + pl.off_max;
    place_planes(pl, x, g.cin, g.h, g.w, n0, nb, gr * pl.cing, pl.cing, g.ph, g.pw, g.h, g.w, xpad,
                 ld_x, 0);
    const T* wg = wt[static_cast<size_t>(gr)].data();
    for (int64_t t = 0; t < pl.taps; ++t)
      gemm_t(false, false, pl.coutg, N, pl.cing, wg + t * pl.coutg * pl.cing, pl.cing,
             xpad + pl.offset(t, g), ld_x, t == 0 ? T(0) : T(1), ym, N);
    take_planes(pl, static_cast<const T*>(ym), N, g.cout, g.oh, g.ow, n0, nb, gr * pl.coutg,
                pl.coutg, 0, 0, y, [b](T v, int64_t c) { return b ? v + b[c] : v; });
  });
}

template <typename T>
void conv2d_backward_shifted(const ConvGeometry& g, const T* x, const T* w, const T* gy, T* gx,
                             T* gw, T* gb, int64_t max_chunk_elements) {
  const Planes pl(g, max_chunk_elements);
  const int64_t Nmax = pl.chunk * pl.plane;
  Tensor gext_t = scratch<T>(pl.coutg * (Nmax + pl.off_max));
  Tensor xpad_t = gw ? scratch<T>(pl.cing * (Nmax + pl.off_max)) : Tensor();
  Tensor gxm_t = gx ? scratch<T>(pl.cing * Nmax) : Tensor();
  T* gext = gext_t.data<T>();
  std::vector<std::vector<T>> wt(static_cast<size_t>(g.groups));
  if (gx)
    for (int64_t gr = 0; gr < g.groups; ++gr)
      wt[static_cast<size_t>(gr)] = weights_by_tap(pl, w, gr);
  // Weight gradient by group and tap, [groups][taps][coutg][cing] (f32: [groups][taps][cing]
  // [coutg]), summed over the chunks.
  std::vector<T> gwt(gw ? static_cast<size_t>(g.cout * pl.cing * pl.taps) : 0);
  conv_detail::for_each_chunk(g, pl.chunk, [&](int64_t n0, int64_t nb, int64_t gr) {
    const int64_t N = nb * pl.plane, ld = N + pl.off_max;
    // The output gradient on the padded grid, after a margin of off_max zeros: the input
    // gradient's tap t reads it at -off(t).
    place_planes(pl, gy, g.cout, g.oh, g.ow, n0, nb, gr * pl.coutg, pl.coutg, 0, 0, g.oh, g.ow,
                 gext, ld, pl.off_max);
    if (gx) {
      T* gxm = gxm_t.data<T>();
      const T* wg = wt[static_cast<size_t>(gr)].data();
      for (int64_t t = 0; t < pl.taps; ++t)
        gemm_t(true, false, pl.cing, N, pl.coutg, wg + t * pl.coutg * pl.cing, pl.cing,
               gext + pl.off_max - pl.offset(t, g), ld, t == 0 ? T(0) : T(1), gxm, N);
      take_planes(pl, static_cast<const T*>(gxm), N, g.cin, g.h, g.w, n0, nb, gr * pl.cing, pl.cing,
                  g.ph, g.pw, gx, [](T v, int64_t) { return v; });
    }
    if (gw) {
      T* xpad = xpad_t.data<T>();
      place_planes(pl, x, g.cin, g.h, g.w, n0, nb, gr * pl.cing, pl.cing, g.ph, g.pw, g.h, g.w,
                   xpad, ld, 0);
      T* gwg = gwt.data() + gr * pl.taps * pl.coutg * pl.cing;
      if constexpr (std::is_same_v<T, float>) {
        // f32: each tap's gradient transposed, [cing, coutg] = the tap's shifted input rows (read
        // in place as the GEMM's A) x the output gradient's rows, packed once as B for all the
        // taps. As [coutg, cing] = gy x shifted-input^T the shifted input was B, packed (with
        // 16 x 16 transposes) once per tap: nine packs of the wide operand instead of one of the
        // narrow one. The same products summed in the same order: the same bits.
        const gemm::PackedB gy_b(/*trans_b=*/true, N, pl.coutg, gext + pl.off_max, ld);
        for (int64_t t = 0; t < pl.taps; ++t)
          gemm::sgemm_packed_b(false, pl.cing, 1.0f, xpad + pl.offset(t, g), ld, gy_b,
                               n0 == 0 ? 0.0f : 1.0f, gwg + t * pl.cing * pl.coutg, pl.coutg);
      } else {
        for (int64_t t = 0; t < pl.taps; ++t)
          gemm_t(false, true, pl.coutg, pl.cing, N, gext + pl.off_max, ld, xpad + pl.offset(t, g),
                 ld, n0 == 0 ? T(0) : T(1), gwg + t * pl.coutg * pl.cing, pl.cing);
      }
    }
  });
  if (gw)
    for (int64_t gr = 0; gr < g.groups; ++gr)
      for (int64_t t = 0; t < pl.taps; ++t) {
        const T* tap = gwt.data() + (gr * pl.taps + t) * pl.coutg * pl.cing;
        for (int64_t co = 0; co < pl.coutg; ++co)
          for (int64_t c = 0; c < pl.cing; ++c)  // f32 holds each tap as [cing][coutg]
            gw[((gr * pl.coutg + co) * pl.cing + c) * pl.taps + t] =
                std::is_same_v<T, float> ? tap[c * pl.coutg + co] : tap[co * pl.cing + c];
      }
  if (gb) conv_detail::bias_gradient(g, gy, gb);
}

#define KILN_CONV_SHIFTED_INSTANTIATE(T)                                                          \
  template void conv2d_forward_shifted<T>(const ConvGeometry&, const T*, const T*, const T*, T*,  \
                                          int64_t);                                               \
  template void conv2d_backward_shifted<T>(const ConvGeometry&, const T*, const T*, const T*, T*, \
                                           T*, T*, int64_t);
KILN_CONV_SHIFTED_INSTANTIATE(float)
KILN_CONV_SHIFTED_INSTANTIATE(double)
#undef KILN_CONV_SHIFTED_INSTANTIATE

}  // namespace kiln::kernels
