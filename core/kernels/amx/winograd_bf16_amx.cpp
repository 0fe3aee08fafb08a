// AMX build of the bf16 Winograd products (core/kernels/amx/winograd_bf16_amx.h). Per position
// xi: the tiles' transformed inputs rounded to bf16 into an L1 block (rows padded to 16 and k to
// 32 with zeros), then 2 x 2 blocks of 16 x 16 f32 C tiles (A tiles 4-5: 16 rows x 32 k; B tiles
// 6-7: 16 k pairs x 16 columns), k ascending in steps of 32. Every C element gets the same tile
// instruction sequence whichever block and row it is in, so results do not depend on the tile
// range of the call (nor on the thread count). Uses the shared tile configuration (all tiles 16 x
// 64 bytes, core/kernels/amx/amx_tiles.h).
#include "core/kernels/amx/winograd_bf16_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/kernels/amx/amx_tiles.h"

namespace kiln::kernels::amx {
namespace {

constexpr int64_t kTile = 16, kStep = 32;

// R x C blocks of C tiles (R, C in {1, 2}): a [rows, kp] bf16 (row stride lda elements), b the
// position's weights at the block's first column (pairs `ldb` elements apart), c f32 (`ldc`
// floats apart).
template <int R, int C>
void block(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, int64_t ksteps, float* c,
           int64_t ldc) {
  _tile_zero(0);
  if constexpr (C == 2) _tile_zero(1);
  if constexpr (R == 2) _tile_zero(2);
  if constexpr (R == 2 && C == 2) _tile_zero(3);
  const int64_t sa = lda * 2, sb = ldb * 2;
  for (int64_t k = 0; k < ksteps; ++k) {
    const uint16_t* bk = b + k * (kStep / 2) * ldb;
    _tile_loadd(4, a + k * kStep, sa);
    _tile_loadd(6, bk, sb);
    if constexpr (C == 2) _tile_loadd(7, bk + 2 * kTile, sb);
    if constexpr (R == 2) _tile_loadd(5, a + kTile * lda + k * kStep, sa);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (C == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (R == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (R == 2 && C == 2) _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t sc = ldc * 4;
  _tile_stored(0, c, sc);
  if constexpr (C == 2) _tile_stored(1, c + kTile, sc);
  if constexpr (R == 2) _tile_stored(2, c + kTile * ldc, sc);
  if constexpr (R == 2 && C == 2) _tile_stored(3, c + kTile * ldc + kTile, sc);
}

// count rows of cin floats (`ld` apart) rounded to bf16 into a (rows kp apart) with
// vcvtne2ps2bf16: nearest even like kiln::f32_to_bf16 except that f32 denormals become zero,
// which changes no product (TDPBF16PS treats bf16 denormals as zero). 10x faster than the
// integer rounding, which was half of this function's time.
void round_rows(const float* v, int64_t ld, int64_t count, int64_t cin, uint16_t* a, int64_t kp) {
  for (int64_t r = 0; r < count; ++r) {
    const float* src = v + r * ld;
    uint16_t* dst = a + r * kp;
    int64_t c = 0;
    for (; c + 32 <= cin; c += 32) {
      const __m512bh h =
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + c + 16), _mm512_loadu_ps(src + c));
      _mm512_storeu_si512(dst + c, reinterpret_cast<const __m512i&>(h));
    }
    if (c < cin) {
      const int64_t left = cin - c;
      const __mmask16 lo = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
      const __mmask16 hi = left <= 16 ? 0 : static_cast<__mmask16>((1u << (left - 16)) - 1);
      const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + c + 16),
                                             _mm512_maskz_loadu_ps(lo, src + c));
      const __mmask32 m = left >= 32 ? ~0u : static_cast<__mmask32>((1ull << left) - 1);
      _mm512_mask_storeu_epi16(dst + c, m, reinterpret_cast<const __m512i&>(h));
    }
  }
}

template <int R>
void row_blocks(const uint16_t* a, int64_t lda, const uint16_t* u, int64_t cout, int64_t ksteps,
                float* c, int64_t ldc) {
  int64_t o = 0;
  for (; o + 2 * kTile <= cout; o += 2 * kTile)
    block<R, 2>(a, lda, u + 2 * o, 2 * cout, ksteps, c + o, ldc);
  if (o < cout) block<R, 1>(a, lda, u + 2 * o, 2 * cout, ksteps, c + o, ldc);
}

}  // namespace

void winograd_bf16_products(const float* v, int64_t ldv, int64_t count, int64_t cin,
                            const uint16_t* uh, int64_t cout, int64_t positions, float* m) {
  gemm::amx::configure_tiles();
  const int64_t kp = (cin + kStep - 1) / kStep * kStep, rows = (count + kTile - 1) / kTile * kTile;
  thread_local std::vector<uint16_t> block_a;
  if (static_cast<int64_t>(block_a.size()) < rows * kp)
    block_a.resize(static_cast<size_t>(rows * kp));
  uint16_t* a = block_a.data();
  // Zero padding once: the conversions below write only rows < count, columns < cin.
  for (int64_t r = 0; r < rows; ++r)
    std::fill(a + r * kp + (r < count ? cin : 0), a + (r + 1) * kp, uint16_t{0});
  const int64_t ldc = cout;
  for (int64_t xi = 0; xi < positions; ++xi) {
    round_rows(v + xi * ldv, cin, count, cin, a, kp);
    const uint16_t* u = uh + xi * kp * cout;
    float* c = m + xi * rows * cout;
    int64_t r = 0;
    for (; r + 2 * kTile <= rows; r += 2 * kTile)
      row_blocks<2>(a + r * kp, kp, u, cout, kp / kStep, c + r * ldc, ldc);
    if (r < rows) row_blocks<1>(a + r * kp, kp, u, cout, kp / kStep, c + r * ldc, ldc);
  }
}

}  // namespace kiln::kernels::amx
