// Building blocks of the quantized linear layers (core/qgemm.h): per-ISA kernels over the packed
// weight layouts below. The driver (core/qgemm.cpp) quantizes activations, splits work over
// threads (M and N only) and applies the activation; kernels do the dots and the tile epilogue.
//
// int8 packed layout: the n weight rows (output columns of y) in panels of 16; panel q starts at
// q * stride bytes and holds, for each group g of 4 consecutive k values, 64 bytes at
// g * 64: column c's 4 int8 values at [c * 4, c * 4 + 4). k is zero-padded to whole groups of 4
// and then to whole chunks of 16 groups (stride = 1024 * chunks), columns past n are zero. A group
// is what vpdpbusd consumes (one 32-bit lane per column holding 4 k values), a chunk is one AMX
// B tile (16 rows of 64 bytes, which TDPBUSD reads the same way).
//
// q4 packed layout: panels of 16 weight rows; panel q, 32-block b starts at
// (q * kblocks + b) * q4_panel_block_bytes(format): 16 f16 scales d (one per row), for q4_1 then
// 16 f16 minimums, then 16 x 16 bytes where byte [j * 16 + r] is byte j of row r's block (low
// nibble element j, high nibble element j + 16), so one 16-byte load gives element j (and j + 16)
// of all 16 rows. Rows past n are zero (scale 0).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/quant_format.h"

namespace kiln::quant::kernels {

constexpr int64_t kPanelCols = 16;
constexpr int64_t kQ4Block = 32;

// Largest k the int8 path accepts: |sum_k (x_q - zp) w_q| <= 255 * 127 * k must fit in int32.
constexpr int64_t kMaxInt8K = 66000;

inline int64_t q4_panel_block_bytes(Format f) {
  return f == Format::Q4_1 ? 16 * 2 + 16 * 2 + 256 : 16 * 2 + 256;
}

// The q4 GEMV kernels' pointers to block b of P consecutive panels, with the block 4 ahead
// prefetched into L1 (a decoder step streams every weight once).
template <int P>
inline void q4_block_pointers(const uint8_t* bp, int64_t panel_stride, int64_t b, int64_t bb,
                              const uint8_t* (&blk)[P]) {
  for (int p = 0; p < P; ++p) {
    blk[p] = bp + p * panel_stride + b * bb;
    for (int64_t off = 0; off <= 256; off += 64) __builtin_prefetch(blk[p] + 4 * bb + off, 0, 3);
  }
}

// Dynamic per-row activation quantization (int8 path): x is mapped to u8 as
// q = clamp(rint(x * inv) + zp, 0, 255) with rint rounding to nearest even (the MXCSR mode the
// vector conversions use), so scalar and SIMD quantizers agree bit for bit. The range always
// includes 0 so that zero (padding, ReLU/GELU zeros) is exact. A row holding NaN or +-inf gets
// scale NaN, which makes every output of that row NaN (documented in core/qgemm.h).
struct ActQuant {
  float scale;  // x ~ scale * (q - zp)
  float inv;    // 1 / scale, or 0 for an all-zero (or denormal-range) row
  int32_t zp;
};

// Parameters from a row's min and max (both already clamped to include 0).
inline ActQuant act_params(float lo, float hi, bool finite) {
  if (!finite) return {std::nanf(""), 0.0f, 0};
  const float scale = (hi - lo) / 255.0f;
  const float inv = 1.0f / scale;
  // An all-zero row, or a range so small that 1/scale overflows: everything quantizes to 0 and the
  // outputs are exactly 0 * ... (error below 1e-36 per element).
  if (scale == 0.0f || !std::isfinite(inv)) return {0.0f, 0.0f, 0};
  int32_t zp = static_cast<int32_t>(std::nearbyint(-lo * inv));
  zp = zp < 0 ? 0 : (zp > 255 ? 255 : zp);
  return {scale, inv, zp};
}

// The int8 path's per-element epilogue, shared by the reference and every kernel (SIMD kernels
// perform these same float operations in this order): acc is the exact integer
// sum_k (x_q - zp) * w_q.
inline float int8_dequant(int32_t acc, float x_scale, float w_scale) {
  const float sc = x_scale * w_scale;
  return static_cast<float>(acc) * sc;
}

struct Int8Kernel {
  // Quantizes x[0, k) to q[0, kp) (kp = k rounded up to 4; the padding gets zp, which the zero
  // weights there cancel) and returns the row's parameters. Must equal quantize_act_row_plain.
  ActQuant (*quantize_row)(const float* x, int64_t k, uint8_t* q);
  // y[i][c] for rows i < rows and columns c < cols of a tile that starts at panel `bp` (`panels`
  // consecutive panels `stride` bytes apart, cols <= panels * 16): acc = dot(a_i, w_c) - zp_i *
  // wsum[c] (exact int32), y = int8_dequant(acc, aq[i].scale, wscale[c]), then + bias[c] if bias,
  // then + residual[i][c] if residual. `a` rows are lda bytes apart, each kgroups * 4 bytes long
  // (the AMX kernel reads them padded to whole chunks, and rows up to a multiple of 16: the
  // driver's buffer holds both).
  void (*tile)(int64_t kgroups, const uint8_t* a, int64_t lda, const ActQuant* aq, int64_t rows,
               const int8_t* bp, int64_t stride, int64_t panels, const int32_t* wsum,
               const float* wscale, const float* bias, const float* residual, int64_t ldr, float* y,
               int64_t ldy, int64_t cols);
  // Rows per tile call (the driver's row block): 8 for the vector kernels, 32 for AMX (two
  // 16-row A tiles).
  int64_t row_block;
};

// Groups of 4 k values in one AMX chunk (64 k: one tile row of bytes).
constexpr int64_t kChunkGroups = 16;

// q4 GEMV-style kernel for a few rows of x (m <= 8): y[i][c] = sum over blocks of
// d_c * (sum_e q'_{c,e} x_{i,e}) (q' = q - 8 for q4_0) [+ m_c * sum_e x_{i,e} for q4_1], in f32,
// then + bias[c], + residual[i][c]. `x` rows (ldx apart) are zero-padded to kblocks * 32 floats;
// xsum[i * kblocks + b] holds block b's sum of row i (q4_1 only).
struct Q4Kernel {
  void (*tile)(Format f, int64_t kblocks, const float* x, int64_t ldx, const float* xsum,
               int64_t rows, const uint8_t* bp, int64_t panels, const float* bias,
               const float* residual, int64_t ldr, float* y, int64_t ldy, int64_t cols);
  // Dequantizes one panel's first kcount k values, starting at the block `bp` points to:
  // dst[e * ld + r] = w[r][e] (r < 16), the exact values dequantize_rows gives. This is the
  // column-major [k][16] strip an sgemm packed B panel holds, for the many-rows path.
  void (*dequant)(Format f, const uint8_t* bp, int64_t kcount, float* dst, int64_t ld);
};

ActQuant quantize_act_row_plain(const float* x, int64_t k, uint8_t* q);

// The q4 x q8 few-row path (m <= 8 on CPUs with AVX-512 VNNI and VBMI): each 32-block of an
// activation row is quantized symmetrically to s8, x ~ scale * q with scale = max|x| / 127 and
// q = rint(x * (127 / max|x|)) (nearest even), so a block's products with the weight nibbles are
// exact integer dots (vpdpbusd). Per block and column, in this order:
//   v = dot(q_w, q_x) (- 8 * sum(q_x) for q4_0), t = float(v) * scale, y = fma(d, t, y),
//   and for q4_1 then y = fma(m, xsum, y) with xsum the block's f32 sum of x;
// then + bias, + residual. A block holding NaN or +-inf gets scale NaN (its row's outputs are
// NaN); an all-zero block gets scale 0.
struct Q8Block {
  float scale;
  int32_t sum;  // sum of the block's q
};
// x holds kblocks * 32 values (zero-padded); q receives as many.
void quantize_q8_row_plain(const float* x, int64_t kblocks, int8_t* q, Q8Block* blocks);

// y[i][c] for rows i < rows (<= 8), columns c < cols of `panels` q4 panels (stride kblocks *
// q4_panel_block_bytes apart): quantized rows xq (ldq bytes apart), their blocks qb (kblocks per
// row) and block sums xsum (q4_1), as above.
using Q4Q8Tile = void (*)(Format f, int64_t kblocks, const int8_t* xq, int64_t ldq,
                          const Q8Block* qb, const float* xsum, int64_t rows, const uint8_t* bp,
                          int64_t panels, const float* bias, const float* residual, int64_t ldr,
                          float* y, int64_t ldy, int64_t cols);

namespace generic {
const Int8Kernel& int8_kernel();
const Q4Kernel& q4_kernel();
}  // namespace generic
namespace avx2 {
const Int8Kernel& int8_kernel();
const Q4Kernel& q4_kernel();
}  // namespace avx2
namespace avx512 {
// Needs avx512_vnni besides the avx512 level.
const Int8Kernel& int8_kernel();
const Q4Kernel& q4_kernel();
}  // namespace avx512
namespace avx512 {
// Needs avx512_vnni and avx512_vbmi (vpermb turns the panel's byte-major nibbles into 4 k values
// per column lane).
Q4Q8Tile q4_q8_tile();
// quantize_q8_row_plain on `rows` rows (x zero-padded to kblocks * 32), the same bytes.
void quantize_q8_rows(const float* x, int64_t ldx, int64_t rows, int64_t kblocks, int8_t* q,
                      int64_t ldq, Q8Block* blocks);
}  // namespace avx512
namespace amx {
// TDPBUSD on AMX tiles (needs amx_int8, the tile state granted, and AVX-512 for the epilogue):
// 32 x 32 output blocks, for many rows. Exact integer sums, so the same bits as every other path.
const Int8Kernel& int8_kernel();
}  // namespace amx

}  // namespace kiln::quant::kernels
