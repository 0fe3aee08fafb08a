// The int8 linear layer on AMX tiles (TDPBUSD: u8 x s8 -> s32, 16 x 16 outputs x 64 k per
// instruction, 16 times the multiply-adds of a zmm vpdpbusd). For many rows only: a decoder step
// (a few rows) is bound by reading weights, which the vector kernel already does at full speed.
// Why: at BERT-base shapes the VNNI kernel ran at 63-76% of the 2-core vpdpbusd peak, which put
// the int8 forward's linears alone above the time budget.
//
// Layouts (core/kernels/qgemm_kernels.h): a B tile is one chunk of one panel, 16 groups of 4 k
// values x 16 columns, i.e. 1,024 contiguous bytes of the packed panel read with a 64-byte row
// stride; an A tile is 16 activation rows x 64 k values read in place from the driver's quantized
// rows (lda apart). Tiles (amx_tiles.h's shared 16 x 64-byte configuration): C 0-3 (row half a,
// panel b at 2a + b), A 4-5, B 6-7: a 32 x 32 output block takes 4 loads for 4 tile products.
// The sums are exact integers, so the epilogue below (the VNNI kernel's float operations in the
// same order) gives the reference's bits whatever the blocking or thread count.
#include <immintrin.h>

#include "core/kernels/amx/amx_tiles.h"
#include "core/kernels/avx512/qgemm_int8_epilogue_avx512.h"
#include "core/kernels/avx512/transpose_avx512.h"
#include "core/kernels/qgemm_kernels.h"

namespace kiln::quant::kernels::amx {
namespace {

using gemm::avx512::first_n;

constexpr int64_t kTileRows = 16;
constexpr int64_t kBlockRows = 2 * kTileRows;
constexpr int64_t kChunkBytes = kChunkGroups * 64;  // one B tile

// Integer sums of an (MA * 16) x (NB * 16) block over `chunks` chunks into acc (row stride 32).
template <int MA, int NB>
void block_sums(int64_t chunks, const uint8_t* a, int64_t lda, const int8_t* bp, int64_t stride,
                int32_t (*acc)[2 * kTileRows]) {
  _tile_zero(0);
  if constexpr (NB > 1) _tile_zero(1);
  if constexpr (MA > 1) _tile_zero(2);
  if constexpr (MA > 1 && NB > 1) _tile_zero(3);
  const uint8_t* a1 = a + kTileRows * lda;
  const int8_t* b1 = bp + stride;
  for (int64_t t = 0; t < chunks; ++t) {
    _tile_loadd(4, a + t * 64, lda);
    _tile_loadd(6, bp + t * kChunkBytes, 64);
    if constexpr (NB > 1) _tile_loadd(7, b1 + t * kChunkBytes, 64);
    if constexpr (MA > 1) _tile_loadd(5, a1 + t * 64, lda);
    _tile_dpbusd(0, 4, 6);
    if constexpr (NB > 1) _tile_dpbusd(1, 4, 7);
    if constexpr (MA > 1) _tile_dpbusd(2, 5, 6);
    if constexpr (MA > 1 && NB > 1) _tile_dpbusd(3, 5, 7);
  }
  constexpr int64_t ld = 2 * kTileRows * sizeof(int32_t);
  _tile_stored(0, &acc[0][0], ld);
  if constexpr (NB > 1) _tile_stored(1, &acc[0][kTileRows], ld);
  if constexpr (MA > 1) _tile_stored(2, &acc[kTileRows][0], ld);
  if constexpr (MA > 1 && NB > 1) _tile_stored(3, &acc[kTileRows][kTileRows], ld);
}

// The shared int8 epilogue on rows < rows, columns < cols of a finished block.
void finish_block(const int32_t (*acc)[2 * kTileRows], const ActQuant* aq, int64_t rows,
                  const int32_t* wsum, const float* wscale, const float* bias,
                  const float* residual, int64_t ldr, float* y, int64_t ldy, int64_t cols) {
  for (int v = 0; v < 2; ++v) {
    const __mmask16 mask = first_n(cols - kTileRows * v);
    if (mask == 0) break;
    const __m512i ws = _mm512_maskz_loadu_epi32(mask, wsum + kTileRows * v);
    const __m512 wsc = _mm512_maskz_loadu_ps(mask, wscale + kTileRows * v);
    const __m512 bv =
        bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + kTileRows * v) : __m512{};
    for (int64_t r = 0; r < rows; ++r) {
      avx512::store_int8_row(_mm512_loadu_si512(&acc[r][kTileRows * v]), aq[r], ws, wsc,
                             bias != nullptr, bv,
                             residual != nullptr ? residual + r * ldr + kTileRows * v : nullptr,
                             y + r * ldy + kTileRows * v, mask);
    }
  }
}

template <int MA>
void row_block(int64_t chunks, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
               const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
               const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
               int64_t ldy, int64_t cols) {
  alignas(64) int32_t acc[kBlockRows][2 * kTileRows];
  for (int64_t q = 0; q < panels; q += 2) {
    const int64_t c0 = q * kPanelCols;
    const int8_t* b = bp + q * stride;
    if (q + 1 < panels) {
      block_sums<MA, 2>(chunks, a, lda, b, stride, acc);
    } else {
      block_sums<MA, 1>(chunks, a, lda, b, stride, acc);
    }
    finish_block(acc, aq, rows, wsum + c0, wscale + c0, bias != nullptr ? bias + c0 : nullptr,
                 residual != nullptr ? residual + c0 : nullptr, ldr, y + c0, ldy, cols - c0);
  }
}

void tile(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
          const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
          const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
          int64_t ldy, int64_t cols) {
  gemm::amx::configure_tiles();
  const int64_t chunks = (kgroups + kChunkGroups - 1) / kChunkGroups;
  for (int64_t i0 = 0; i0 < rows; i0 += kBlockRows) {
    const int64_t r = rows - i0 < kBlockRows ? rows - i0 : kBlockRows;
    const float* ri = residual != nullptr ? residual + i0 * ldr : nullptr;
    if (r > kTileRows) {
      row_block<2>(chunks, a + i0 * lda, lda, aq + i0, r, bp, stride, panels, wsum, wscale, bias,
                   ri, ldr, y + i0 * ldy, ldy, cols);
    } else {
      row_block<1>(chunks, a + i0 * lda, lda, aq + i0, r, bp, stride, panels, wsum, wscale, bias,
                   ri, ldr, y + i0 * ldy, ldy, cols);
    }
  }
}

}  // namespace

const Int8Kernel& int8_kernel() {
  // quantize_row: the AVX-512 one (the epilogue needs AVX-512 anyway, and it gives the same bytes
  // as every quantizer).
  static const Int8Kernel k{avx512::int8_kernel().quantize_row, tile, kBlockRows};
  return k;
}

}  // namespace kiln::quant::kernels::amx
