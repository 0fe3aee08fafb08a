// Driver of core/kernels/winograd_f2x3.h, included by the plain and the AVX-512 translation units,
// each inside its own namespace (KILN_WINOGRAD_NS). Each includer defines the transforms and
// tile_products (the 16 GEMMs) after including this file. The transforms are additions and
// subtractions in one fixed order in both builds, so the builds differ only in the products.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/kernels/winograd_f2x3.h"

namespace kiln::kernels::KILN_WINOGRAD_NS {
namespace {

// Floats between the 16 positions' blocks of transformed inputs beyond their count x cin: with
// blocks exactly 16 KiB apart (32 tiles x 128 channels, DenseNet's shape) the input transform's
// 16 store streams all fell into the same L1 sets and the forward ran 2.3x slower (measured); a
// cache line more spreads them over 16 sets.
constexpr int64_t kPositionPad = 16;

// Defined by the including translation unit, the same arithmetic in both builds:
// input_tile: B' d B of one tile's 4x4 input patch (`p` at its top-left pixel, rows `row` floats
// apart, pixels `cin` apart) into v[xi * ldv + c], B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
// as (per column j) r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3, then the same
// combinations of r's columns.
void input_tile(const float* p, int64_t row, int64_t cin, float* v, int64_t ldv);
// output_tile: A' m A of one tile's 16 products m[xi * cout + o] into its 2x2 output pixels
// (`out` at the top-left one, pixels `ldo` apart, image rows `row` floats apart), of which the
// first ny rows and nx columns exist; A' = [1 1 1 0; 0 1 -1 -1], as (per column j)
// q0 = (s0 + s1) + s2, q1 = (s1 - s2) - s3, then the same combinations of q's columns.
void output_tile(const float* m, int64_t cout, float* out, int64_t ldo, int64_t row, int64_t ny,
                 int64_t nx);

// m[(r * 16 + xi) * cout + o] = sum over c ascending of v[xi * ldv + r * cin + c] *
// u[(xi * cin + c) * cout + o], for r < count: defined by the including translation unit. Per xi
// the rows of v are contiguous (a register tile's rows in consecutive cache lines), and ldv is
// a cache line more than count x cin (see kPositionPad).
void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, float* m);

}  // namespace

void winograd_f2x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  if (count <= 0) return;
  const int64_t cin = image.cin, tw = (image.w + 1) / 2;
  const int64_t ldv = count * cin + kPositionPad;
  float* v = scratch;             // [16][count][cin], positions ldv apart
  float* m = scratch + 16 * ldv;  // [count][16][cout]
  for (int64_t r = 0; r < count; ++r) {
    const int64_t t = t0 + r, ty = t / tw, tx = t % tw;
    input_tile(image.in + ((2 * ty) * image.wp + 2 * tx) * cin, image.wp * cin, cin, v + r * cin,
               ldv);
  }
  tile_products(v, ldv, count, cin, u, cout, m);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t t = t0 + r, y = 2 * (t / tw), x = 2 * (t % tw);
    output_tile(m + r * 16 * cout, cout, out + (y * image.w + x) * ldo, ldo, image.w * ldo,
                std::min<int64_t>(2, image.h - y), std::min<int64_t>(2, image.w - x));
  }
}

}  // namespace kiln::kernels::KILN_WINOGRAD_NS
