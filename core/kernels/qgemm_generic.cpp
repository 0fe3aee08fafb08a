// Portable kernels of the quantized linear layers (see core/kernels/qgemm_kernels.h): plain loops
// over the packed layouts, used on CPUs without AVX2 and as the activation quantizer every path
// must match.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels {

ActQuant quantize_act_row_plain(const float* x, int64_t k, uint8_t* q) {
  float lo = 0.0f, hi = 0.0f;
  bool finite = true;
  for (int64_t p = 0; p < k; ++p) {
    finite = finite && std::isfinite(x[p]);
    lo = std::min(lo, x[p]);
    hi = std::max(hi, x[p]);
  }
  const ActQuant aq = act_params(lo, hi, finite);
  const int64_t kp = (k + 3) / 4 * 4;
  for (int64_t p = 0; p < kp; ++p) {
    int32_t v = aq.zp;
    if (p < k && aq.inv != 0.0f) {
      v = static_cast<int32_t>(std::nearbyint(x[p] * aq.inv)) + aq.zp;
      v = std::clamp(v, 0, 255);
    }
    q[p] = static_cast<uint8_t>(v);
  }
  return aq;
}

void quantize_q8_row_plain(const float* x, int64_t kblocks, int8_t* q, Q8Block* blocks) {
  for (int64_t b = 0; b < kblocks; ++b) {
    const float* xb = x + b * kQ4Block;
    int8_t* qb = q + b * kQ4Block;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t e = 0; e < kQ4Block; ++e) {
      finite = finite && std::isfinite(xb[e]);
      amax = std::max(amax, std::fabs(xb[e]));
    }
    std::memset(qb, 0, kQ4Block);
    if (!finite) {
      blocks[b] = {std::nanf(""), 0};
      continue;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    // A denormal maximum makes 127 / amax overflow: such a block is zero to within 1e-36.
    if (amax == 0.0f || !std::isfinite(inv)) {
      blocks[b] = {0.0f, 0};
      continue;
    }
    int32_t sum = 0;
    for (int64_t e = 0; e < kQ4Block; ++e) {
      const int32_t v = std::clamp(static_cast<int32_t>(std::nearbyint(xb[e] * inv)), -127, 127);
      qb[e] = static_cast<int8_t>(v);
      sum += v;
    }
    blocks[b] = {amax / 127.0f, sum};
  }
}

namespace generic {
namespace {

void int8_tile(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
               const int8_t* bp, int64_t stride, int64_t /*panels*/, const int32_t* wsum,
               const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
               int64_t ldy, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    const uint8_t* ar = a + i * lda;
    for (int64_t c = 0; c < cols; ++c) {
      const int8_t* b = bp + (c / kPanelCols) * stride + (c % kPanelCols) * 4;
      int32_t acc = 0;
      for (int64_t g = 0; g < kgroups; ++g) {
        for (int e = 0; e < 4; ++e) acc += static_cast<int32_t>(ar[g * 4 + e]) * b[g * 64 + e];
      }
      acc -= aq[i].zp * wsum[c];
      float v = int8_dequant(acc, aq[i].scale, wscale[c]);
      if (bias != nullptr) v = v + bias[c];
      if (residual != nullptr) v = v + residual[i * ldr + c];
      y[i * ldy + c] = v;
    }
  }
}

// Per block: s = sum_e q'_e x_e in f32 (e ascending, q' = q - 8 for q4_0), then y += d * s
// (q4_1: then y += m * xsum). Within the tolerance of the reference, not bit-equal to the AVX-512
// kernel (which sums two chains and uses FMAs).
void q4_tile(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum,
             int64_t rows, const uint8_t* bp, int64_t /*panels*/, const float* bias,
             const float* residual, int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  const int64_t bb = q4_panel_block_bytes(f);
  const bool q41 = f == Format::Q4_1;
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t r = c % kPanelCols;
      const uint8_t* panel = bp + (c / kPanelCols) * kblocks * bb;
      float acc = 0.0f;
      for (int64_t b = 0; b < kblocks; ++b) {
        const uint8_t* blk = panel + b * bb;
        uint16_t dh, mh = 0;
        std::memcpy(&dh, blk + 2 * r, 2);
        if (q41) std::memcpy(&mh, blk + 32 + 2 * r, 2);
        const uint8_t* qs = blk + (q41 ? 64 : 32);
        const float* xb = xr + b * kQ4Block;
        float s = 0.0f;
        for (int64_t j = 0; j < 16; ++j) {
          const int lo = qs[j * 16 + r] & 0x0F, hi = qs[j * 16 + r] >> 4;
          s += static_cast<float>(q41 ? lo : lo - 8) * xb[j];
          s += static_cast<float>(q41 ? hi : hi - 8) * xb[j + 16];
        }
        acc += f16_to_f32(dh) * s;
        if (q41) acc += f16_to_f32(mh) * xsum[i * kblocks + b];
      }
      if (bias != nullptr) acc = acc + bias[c];
      if (residual != nullptr) acc = acc + residual[i * ldr + c];
      y[i * ldy + c] = acc;
    }
  }
}

void q4_dequant(Format f, const uint8_t* bp, int64_t kcount, float* dst, int64_t ld) {
  const bool q41 = f == Format::Q4_1;
  const int64_t bb = q4_panel_block_bytes(f);
  for (int64_t e = 0; e < kcount; ++e) {
    const uint8_t* blk = bp + (e / kQ4Block) * bb;
    const int64_t j = e % kQ4Block % 16;
    for (int64_t r = 0; r < kPanelCols; ++r) {
      uint16_t dh, mh = 0;
      std::memcpy(&dh, blk + 2 * r, 2);
      if (q41) std::memcpy(&mh, blk + 32 + 2 * r, 2);
      const uint8_t byte = blk[(q41 ? 64 : 32) + j * 16 + r];
      const int q = e % kQ4Block < 16 ? byte & 0x0F : byte >> 4;
      dst[e * ld + r] = q41 ? f16_to_f32(dh) * static_cast<float>(q) + f16_to_f32(mh)
                            : f16_to_f32(dh) * static_cast<float>(q - 8);
    }
  }
}

ActQuant quantize_row(const float* x, int64_t k, uint8_t* q) {
  return quantize_act_row_plain(x, k, q);
}

}  // namespace

const Int8Kernel& int8_kernel() {
  static const Int8Kernel k{quantize_row, int8_tile, 8};
  return k;
}

const Q4Kernel& q4_kernel() {
  static const Q4Kernel k{q4_tile, q4_dequant};
  return k;
}

}  // namespace generic
}  // namespace kiln::quant::kernels
