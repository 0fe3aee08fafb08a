// Loop bodies of core/kernels/maxpool3s2_rows.h, included by the plain and the AVX-512
// translation units, each inside its own namespace (KILN_MAXPOOL3S2_NS). Channels go in blocks
// held in small local arrays, so that the loops over a block vectorise with masked selects.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln::kernels::KILN_MAXPOOL3S2_NS {
namespace {

constexpr int64_t kBlock = 64;

// Window rows (or columns) [lo, hi] of pooled index o on an axis of n pixels.
inline int64_t window_lo(int64_t o) {
  return std::max<int64_t>(0, 2 * o - 1);
}
inline int64_t window_hi(int64_t o, int64_t n) {
  return std::min(n - 1, 2 * o + 1);
}

}  // namespace

void bn_relu_maxpool3s2_row(const float* y, int64_t h, int64_t w, int64_t channels,
                            const float* scale, const float* shift, int64_t oy, float* out,
                            int64_t ldo, uint8_t* arg) {
  const int64_t ow = (w - 1) / 2 + 1, ylo = window_lo(oy), yhi = window_hi(oy, h);
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t xlo = window_lo(ox), xhi = window_hi(ox, w);
    for (int64_t c0 = 0; c0 < channels; c0 += kBlock) {
      const int64_t nc = std::min(kBlock, channels - c0);
      const float* __restrict sc = scale + c0;
      const float* __restrict sh = shift + c0;
      float best[kBlock];
      int32_t idx[kBlock];
      bool first = true;
      for (int64_t yy = ylo; yy <= yhi; ++yy)
        for (int64_t xx = xlo; xx <= xhi; ++xx) {
          const int32_t pos = static_cast<int32_t>((yy - 2 * oy + 1) * 3 + (xx - 2 * ox + 1));
          const float* __restrict s = y + (yy * w + xx) * channels + c0;
          if (first) {
            for (int64_t c = 0; c < nc; ++c) best[c] = s[c] * sc[c] + sh[c], idx[c] = pos;
            first = false;
            continue;
          }
          for (int64_t c = 0; c < nc; ++c) {
            const float z = s[c] * sc[c] + sh[c];
            const bool take = z > best[c] || z != z;  // the first maximum; NaN wins
            best[c] = take ? z : best[c];
            idx[c] = take ? pos : idx[c];
          }
        }
      float* __restrict o = out + ox * ldo + c0;
      uint8_t* __restrict a = arg + ox * channels + c0;
      for (int64_t c = 0; c < nc; ++c) {
        const bool pass = best[c] > 0.0f || best[c] != best[c];
        o[c] = pass ? best[c] : 0.0f;
        a[c] = pass ? static_cast<uint8_t>(idx[c]) : kNoGradient;
      }
    }
  }
}

void maxpool3s2_grad_sums_row(const float* y, int64_t h, int64_t w, int64_t channels, int64_t oy,
                              const float* g, const uint8_t* arg, const float* mean,
                              const float* invstd, double* sum_g, double* sum_gx) {
  const int64_t ow = (w - 1) / 2 + 1, ylo = window_lo(oy), yhi = window_hi(oy, h);
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t xlo = window_lo(ox), xhi = window_hi(ox, w);
    for (int64_t c0 = 0; c0 < channels; c0 += kBlock) {
      const int64_t nc = std::min(kBlock, channels - c0);
      const uint8_t* __restrict a = arg + ox * channels + c0;
      const float* __restrict gr = g + ox * channels + c0;
      float won[kBlock];  // y at the winning position
      for (int64_t c = 0; c < nc; ++c) won[c] = 0.0f;
      for (int64_t yy = ylo; yy <= yhi; ++yy)
        for (int64_t xx = xlo; xx <= xhi; ++xx) {
          const uint8_t pos = static_cast<uint8_t>((yy - 2 * oy + 1) * 3 + (xx - 2 * ox + 1));
          const float* __restrict s = y + (yy * w + xx) * channels + c0;
          for (int64_t c = 0; c < nc; ++c) won[c] = a[c] == pos ? s[c] : won[c];
        }
      const float* __restrict mu = mean + c0;
      const float* __restrict is = invstd + c0;
      double* __restrict sg = sum_g + c0;
      double* __restrict sgx = sum_gx + c0;
      for (int64_t c = 0; c < nc; ++c) {
        const float gg = a[c] != kNoGradient ? gr[c] : 0.0f;
        sg[c] += static_cast<double>(gg);
        sgx[c] += static_cast<double>(gg * ((won[c] - mu[c]) * is[c]));
      }
    }
  }
}

void maxpool3s2_bn_backward_rows(const float* y, int64_t h, int64_t w, int64_t channels,
                                 const float* g, const uint8_t* arg, int64_t ya, int64_t yb,
                                 const StemNormGrad& coef, float* out) {
  const int64_t ow = (w - 1) / 2 + 1, oh = (h - 1) / 2 + 1;
  std::fill(out, out + (yb - ya) * w * channels, 0.0f);
  // The pooled rows whose windows (rows 2 * oy - 1 ... 2 * oy + 1) reach into [ya, yb).
  for (int64_t oy = ya / 2; oy <= std::min(oh - 1, yb / 2); ++oy)
    for (int64_t ox = 0; ox < ow; ++ox) {
      const uint8_t* __restrict a = arg + (oy * ow + ox) * channels;
      const float* __restrict gr = g + (oy * ow + ox) * channels;
      for (int64_t dy = 0; dy < 3; ++dy) {
        const int64_t yy = 2 * oy - 1 + dy;
        if (yy < ya || yy >= yb || yy >= h) continue;
        for (int64_t dx = 0; dx < 3; ++dx) {
          const int64_t xx = 2 * ox - 1 + dx;
          if (xx < 0 || xx >= w) continue;
          const uint8_t pos = static_cast<uint8_t>(dy * 3 + dx);
          float* __restrict d = out + ((yy - ya) * w + xx) * channels;
          for (int64_t c = 0; c < channels; ++c) d[c] += a[c] == pos ? gr[c] : 0.0f;
        }
      }
    }
  const float* __restrict k = coef.k;
  const float* __restrict mg = coef.mean_g;
  const float* __restrict mu = coef.mean;
  const float* __restrict b = coef.b;
  for (int64_t p = 0; p < (yb - ya) * w; ++p) {
    const float* __restrict yr = y + (ya * w + p) * channels;
    float* __restrict d = out + p * channels;
    for (int64_t c = 0; c < channels; ++c) d[c] = k[c] * (d[c] - mg[c] - (yr[c] - mu[c]) * b[c]);
  }
}

}  // namespace kiln::kernels::KILN_MAXPOOL3S2_NS
