// Driver of core/kernels/winograd_f2x3.h (F(2x2, 3x3) and F(4x4, 3x3)), included by the plain and
// the AVX-512 translation units, each inside its own namespace (KILN_WINOGRAD_NS). Each includer
// defines the transforms and tile_products (the GEMMs, one per position of the transformed tile)
// after including this file. The transforms are the same operations in the same order in both
// builds (core/kernels/winograd_transforms.h), so the builds differ only where the AVX-512 one
// fuses a multiplication and an addition (FMA).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/kernels/winograd_f2x3.h"

namespace kiln::kernels::KILN_WINOGRAD_NS {
namespace {

// Floats between the positions' blocks of transformed inputs beyond their count x cin: with
// blocks exactly 16 KiB apart (32 tiles x 128 channels, DenseNet's shape) the input transform's
// 16 store streams all fell into the same L1 sets and the forward ran 2.3x slower (measured); a
// cache line more spreads them over 16 sets.
constexpr int64_t kPositionPad = 16;

// Defined by the including translation unit, per output tile side M (2 or 4; the input patch is
// M + 2 pixels square, P = (M + 2)^2 positions):
// input_tile<M>: B' d B of one tile's input patch into v[xi * ldv + c], xi = (M + 2) * row +
// column. The patch's top-left pixel is (y0, x0) of `image` (-1 at the top and left edges);
// `inside` says it lies wholly inside the image, else pixels outside read as zero.
template <int M>
void input_tile(const WinogradImage& image, int64_t y0, int64_t x0, bool inside, float* v,
                int64_t ldv);
// output_tile<M>: A' m A of one tile's P products m[xi * ldm + o] into its M x M output pixels
// (`out` at the top-left one, pixels `ldo` apart, image rows `row` floats apart), of which the
// first ny rows and nx columns exist.
template <int M>
void output_tile(const float* m, int64_t ldm, int64_t cout, float* out, int64_t ldo, int64_t row,
                 int64_t ny, int64_t nx);

// m[(r * positions + xi) * cout + o] = sum over c ascending of v[xi * ldv + r * cin + c] *
// u[(xi * cin + c) * cout + o], for r < count: defined by the including translation unit. Per xi
// the rows of v are contiguous (a register tile's rows in consecutive cache lines), and ldv is
// a cache line more than count x cin (see kPositionPad).
void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, int64_t positions, float* m);
// The same with both operands rounded to bf16 (uh: winograd_f2x3_weights_bf16's layout) and
// f32 accumulation, into the position-major layout m[(xi * rows + r) * cout + o] with rows =
// count rounded up to 16 (the padded rows are written too; the bf16 scratch has room): an AMX
// tile's 16 rows are then stored cout floats apart, not 16 * cout (at cout = 128 that stride put
// all 16 rows in one L1 set).
void tile_products_bf16(const float* v, int64_t ldv, int64_t count, int64_t cin, const uint16_t* uh,
                        int64_t cout, int64_t positions, float* m);

// products(v, ldv, count, cin, positions, m) fills m from v (tile_products' contract, or with
// kPositionMajor tile_products_bf16's layout).
template <int M, bool kPositionMajor = false, class Products>
void tiles(const WinogradImage& image, int64_t cout, int64_t t0, int64_t count, float* out,
           int64_t ldo, float* scratch, Products products) {
  if (count <= 0) return;
  constexpr int64_t kP = (M + 2) * (M + 2);
  const int64_t cin = image.cin, tw = (image.w + M - 1) / M;
  const int64_t ldv = count * cin + kPositionPad;
  float* v = scratch;             // [P][count][cin], positions ldv apart
  float* m = scratch + kP * ldv;  // [count][P][cout]
  for (int64_t r = 0; r < count; ++r) {
    const int64_t t = t0 + r, y0 = M * (t / tw) - 1, x0 = M * (t % tw) - 1;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + M + 2 <= image.h && x0 + M + 2 <= image.w;
    input_tile<M>(image, y0, x0, inside, v + r * cin, ldv);
  }
  products(v, ldv, count, cin, kP, m);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t t = t0 + r, y = M * (t / tw), x = M * (t % tw);
    const int64_t rows = (count + 15) / 16 * 16;
    output_tile<M>(kPositionMajor ? m + r * cout : m + r * kP * cout,
                   kPositionMajor ? rows * cout : cout, cout, out + (y * image.w + x) * ldo, ldo,
                   image.w * ldo, std::min<int64_t>(M, image.h - y),
                   std::min<int64_t>(M, image.w - x));
  }
}

}  // namespace

void winograd_f2x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  tiles<2>(image, cout, t0, count, out, ldo, scratch,
           [&](const float* v, int64_t ldv, int64_t n, int64_t cin, int64_t p, float* m) {
             tile_products(v, ldv, n, cin, u, cout, p, m);
           });
}

void winograd_f4x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  tiles<4>(image, cout, t0, count, out, ldo, scratch,
           [&](const float* v, int64_t ldv, int64_t n, int64_t cin, int64_t p, float* m) {
             tile_products(v, ldv, n, cin, u, cout, p, m);
           });
}

void winograd_f2x3_tiles_bf16(const WinogradImage& image, const uint16_t* uh, int64_t cout,
                              int64_t t0, int64_t count, float* out, int64_t ldo, float* scratch) {
  tiles<2, true>(image, cout, t0, count, out, ldo, scratch,
                 [&](const float* v, int64_t ldv, int64_t n, int64_t cin, int64_t p, float* m) {
                   tile_products_bf16(v, ldv, n, cin, uh, cout, p, m);
                 });
}

}  // namespace kiln::kernels::KILN_WINOGRAD_NS
