// DenseNet's stem pooling, batch norm + ReLU + 3x3 / stride 2 max pooling with padding 1 (floor
// sizes), on channels-last rows ([pixels, channels], a row = one pixel of one image), for the
// fused stem training op (nn/densenet_stem_train.h). Forward keeps one byte per pooled value:
// which of its window's nine positions (row-major, as max_pool2d scans: (dy, dx) of window
// pixel (2 * oy - 1 + dy, 2 * ox - 1 + dx)) won, or kNoGradient where the pooled value is not
// positive: the ReLU before the pool then passes no gradient (every value of the window is <= 0;
// max_pool2d would route the gradient to a ReLU output of 0, whose gradient is 0). That byte is
// all backward needs: no int64 index per value, no ReLU mask, no normalised copy. Ties between
// positive values go to the first position in scan order, as max_pool2d's; NaN wins its window
// and stays NaN. Plain loops over the channels that the compiler vectorises; each value depends
// only on its own window, so results do not depend on how threads split the rows.
#pragma once

#include <cstdint>

namespace kiln::kernels {

constexpr uint8_t kNoGradient = 255;

// Pooled row oy of one image: y its pre-norm rows [h * w, channels]; each window value is
// normalised as y * scale + shift (per channel), ReLU applied, the window's maximum taken. Writes
// out[ox * ldo + c] and arg[ox * channels + c] for ox < (w - 1) / 2 + 1.
void bn_relu_maxpool3s2_row(const float* y, int64_t h, int64_t w, int64_t channels,
                            const float* scale, const float* shift, int64_t oy, float* out,
                            int64_t ldo, uint8_t* arg);

// Per-channel sums over pooled row oy of one image for batch norm's backward: sum_g[c] += g and
// sum_gx[c] += g * (y_won - mean[c]) * invstd[c] over its pooled values that pass a gradient
// (g the pooled gradient rows [ow, channels], y_won the pre-norm value at the winning position).
void maxpool3s2_grad_sums_row(const float* y, int64_t h, int64_t w, int64_t channels, int64_t oy,
                              const float* g, const uint8_t* arg, const float* mean,
                              const float* invstd, double* sum_g, double* sum_gx);

// Batch norm's input gradient for conv rows [ya, yb) of one image (pixel rows (ya * w) ...):
// out[p * channels + c] = k[c] * (G - mean_g[c] - (y[p, c] - mean[c]) * b[c]), where G is the sum
// of the pooled gradients (g, arg: the image's pooled rows) that pixel p won, added in (oy, ox)
// order, and b = invstd * mean(g * xhat). out is [(yb - ya) * w, channels]; y points at the
// image's first row.
struct StemNormGrad {
  const float *k, *mean_g, *mean, *b;
};
void maxpool3s2_bn_backward_rows(const float* y, int64_t h, int64_t w, int64_t channels,
                                 const float* g, const uint8_t* arg, int64_t ya, int64_t yb,
                                 const StemNormGrad& coef, float* out);

// The individual builds, for tests (each with the signatures above).
#define KILN_MAXPOOL3S2_DECLS                                                                      \
  void bn_relu_maxpool3s2_row(const float*, int64_t, int64_t, int64_t, const float*, const float*, \
                              int64_t, float*, int64_t, uint8_t*);                                 \
  void maxpool3s2_grad_sums_row(const float*, int64_t, int64_t, int64_t, int64_t, const float*,    \
                                const uint8_t*, const float*, const float*, double*, double*);     \
  void maxpool3s2_bn_backward_rows(const float*, int64_t, int64_t, int64_t, const float*,          \
                                   const uint8_t*, int64_t, int64_t, const StemNormGrad&, float*);
namespace plain {
KILN_MAXPOOL3S2_DECLS
}  // namespace plain
namespace avx512 {
KILN_MAXPOOL3S2_DECLS
}  // namespace avx512
#undef KILN_MAXPOOL3S2_DECLS

}  // namespace kiln::kernels
