// The int8 linear layer's per-element epilogue in AVX-512, shared by the VNNI and AMX kernels so
// that both keep giving the reference's bits (core/kernels/qgemm_kernels.h, int8_dequant):
// s = acc - zp * wsum (int32), y = float(s) * (x_scale * w_scale), then + bias, then + residual,
// each one rounding. Include only from files compiled with AVX-512 flags.
#pragma once

#include <immintrin.h>

#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::avx512 {

// One output row's 16 columns (`mask`): acc the exact integer dots, ws / wsc / bv the columns'
// weight sums, scales and bias (bv ignored when !has_bias), residual_row nullptr for none.
inline void store_int8_row(__m512i acc, const ActQuant& aq, __m512i ws, __m512 wsc, bool has_bias,
                           __m512 bv, const float* residual_row, float* y_row, __mmask16 mask) {
  const __m512i s = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(aq.zp), ws));
  __m512 out = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(_mm512_set1_ps(aq.scale), wsc));
  // An empty asm the value must pass through: it keeps GCC from contracting this multiply and the
  // bias addition into one FMA (-ffp-contract=fast), which would change the rounding.
  __asm__("" : "+v"(out));
  if (has_bias) out = _mm512_add_ps(out, bv);
  if (residual_row != nullptr) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, residual_row));
  _mm512_mask_storeu_ps(y_row, mask, out);
}

}  // namespace kiln::quant::kernels::avx512
