// bf16 x bf16 -> f32 GEMM micro-kernel on AMX (TDPBF16PS), for CPUs with amx_bf16. Why: on
// Intel cores with AMX, vdpbf16ps issues on one port while f32 FMAs issue on two, so the AVX-512
// bf16 kernel has no more throughput than sgemm (measured 0.6-1.0x at BERT shapes); a tile
// instruction does 16 x 16 x 32 multiply-adds.
// Tile 16 x 48: C is three 16 x 16 f32 tiles, A one 16-row x 32-k tile, B three 16-pair x 16-column
// tiles. K is consumed 32 at a time (kstep 32: packing zero-pads k to a multiple of 32).
// Layouts (the driver's, core/kernels/sgemm_kernels.h, with mr = 16, nr = 48, kstep = 32):
//   packed A panel: row r at [r * kcp + k] (rows contiguous along k, as a tile row reads them);
//   packed B panel: k pair kg, column c at [(kg * 48 + c) * 2 + e] (the AVX-512 bf16 layout, so
//   its packing routine is reused), tile g of k chunk t starts at pair 16 t, column 16 g.
// Each C element is the sum over k chunks in ascending order, independent of tile and task
// boundaries, so results do not depend on the thread count. Tile state is configured once per
// thread (core/kernels/amx/amx_tiles.h); the process asks the kernel for AMX permission once.
// Tiles 0-2: C (16 rows x 64 bytes), 3: A (16 x 64), 4-6: B (16 pairs x 64 bytes).
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "core/kernels/amx/amx_tiles.h"
#include "core/kernels/sgemm_kernels.h"

namespace kiln::gemm::amx {
namespace {

constexpr int64_t kMr = 16;
constexpr int64_t kNr = 48;
constexpr int64_t kStep = 32;

void pack_a(bool trans_a, const uint16_t* a, int64_t lda, int64_t m, int64_t kc, uint16_t* dst) {
  const int64_t kcp = (kc + kStep - 1) / kStep * kStep;
  for (int64_t r = 0; r < kMr; ++r) {
    uint16_t* row = dst + r * kcp;
    if (r >= m) {
      std::memset(row, 0, kcp * sizeof(uint16_t));
      continue;
    }
    if (trans_a) {
      for (int64_t k = 0; k < kc; ++k) row[k] = a[k * lda + r];
    } else {
      std::memcpy(row, a + r * lda, kc * sizeof(uint16_t));
    }
    std::memset(row + kc, 0, (kcp - kc) * sizeof(uint16_t));
  }
}

void pack_b(bool trans_b, const uint16_t* b, int64_t ldb, int64_t kc, int64_t n, uint16_t* dst) {
  const int64_t kcp = (kc + kStep - 1) / kStep * kStep;
  const int64_t pairs_packed = (kc + 1) / 2, pairs = kcp / 2;
  const Bf16GemmKernel& vnni = avx512::bf16_kernel();  // same 48-column pair layout
  for (int64_t j0 = 0; j0 < n; j0 += kNr, dst += kNr * kcp) {
    const int64_t cols = n - j0 < kNr ? n - j0 : kNr;
    vnni.pack_b(trans_b, trans_b ? b + j0 * ldb : b + j0, ldb, kc, cols, dst);
    std::memset(dst + pairs_packed * kNr * 2, 0,
                (pairs - pairs_packed) * kNr * 2 * sizeof(uint16_t));
  }
}

// The tile product of 16 rows of A, `lda` elements apart (kc: a packed panel; the row stride of
// op(A): read in place), with a packed B panel, stored as the AVX-512 kernels store.
void tile_sweep(int64_t kc, const uint16_t* ap, int64_t lda, const uint16_t* bp, float* c,
                int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  configure_tiles();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  const int64_t a_stride = lda * sizeof(uint16_t), b_stride = kNr * 2 * sizeof(uint16_t);
  for (int64_t k0 = 0; k0 < kc; k0 += kStep) {
    _tile_loadd(3, ap + k0, a_stride);
    const uint16_t* bk = bp + (k0 / 2) * kNr * 2;
    _tile_loadd(4, bk, b_stride);
    _tile_loadd(5, bk + 32, b_stride);
    _tile_loadd(6, bk + 64, b_stride);
    _tile_dpbf16ps(0, 3, 4);
    _tile_dpbf16ps(1, 3, 5);
    _tile_dpbf16ps(2, 3, 6);
  }
  alignas(64) float acc[kMr][kNr];
  _tile_stored(0, &acc[0][0], kNr * sizeof(float));
  _tile_stored(1, &acc[0][16], kNr * sizeof(float));
  _tile_stored(2, &acc[0][32], kNr * sizeof(float));
  // The store of the AVX-512 kernels: alpha * acc, or alpha * acc + beta * old as one FMA.
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __mmask16 mask[3];
  for (int j = 0; j < 3; ++j) {
    const int64_t left = nr - 16 * j;
    mask[j] = left >= 16 ? 0xffff : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  }
  for (int64_t i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < 3; ++j) {
      const __m512 x = _mm512_load_ps(&acc[i][16 * j]);
      const __m512 r =
          beta == 0.0f
              ? _mm512_mul_ps(va, x)
              : _mm512_fmadd_ps(va, x,
                                _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask[j], row + 16 * j)));
      _mm512_mask_storeu_ps(row + 16 * j, mask[j], r);
    }
  }
}

void micro_kernel(int64_t kc, const uint16_t* ap, const uint16_t* bp, float* c, int64_t ldc,
                  int64_t mr, int64_t nr, float alpha, float beta) {
  tile_sweep(kc, ap, kc, bp, c, ldc, mr, nr, alpha, beta);
}

// A read in place (the driver asks only when kc is a multiple of kStep): a tile load takes the
// rows at their own stride, the same values the packed panel would hold, so the same bits. A
// last panel of fewer than 16 rows is packed (a tile load always reads 16 rows).
void micro_rows_a(int64_t kc, const uint16_t* a, int64_t lda, const uint16_t* bp, float* c,
                  int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const TileExtras*) {
  if (mr == kMr) {
    tile_sweep(kc, a, lda, bp, c, ldc, mr, nr, alpha, beta);
    return;
  }
  thread_local std::vector<uint16_t> panel;
  if (static_cast<int64_t>(panel.size()) < kMr * kc) panel.resize(static_cast<size_t>(kMr * kc));
  pack_a(false, a, lda, mr, kc, panel.data());
  tile_sweep(kc, panel.data(), kc, bp, c, ldc, mr, nr, alpha, beta);
}

}  // namespace

const Bf16GemmKernel& bf16_kernel() {
  static const Bf16GemmKernel k{kMr,    kNr,          kStep,        pack_a,
                                pack_b, micro_kernel, micro_rows_a, nullptr};
  return k;
}

}  // namespace kiln::gemm::amx
