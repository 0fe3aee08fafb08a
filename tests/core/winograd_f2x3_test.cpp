// The Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (core/kernels/winograd_f2x3.h), plain and
// AVX-512 builds, against a direct 3x3 convolution in double on the same channels-last images
// (zero padding 1, not stored): odd and even sizes (edge tiles on every side, partial tiles at
// the right and bottom), images smaller than one tile, channel counts that are not whole
// vectors, output columns wider than one 32-column register tile, tile ranges that start and end
// anywhere (the result must not depend on them, bit for bit), and an output stride wider than
// cout (the layer writes into a wider block buffer).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/winograd_f2x3.h"

namespace kiln::kernels {
namespace {

using TilesFn = void (*)(const WinogradImage&, const float*, int64_t, int64_t, int64_t, float*,
                         int64_t, float*);

using WeightsFn = std::vector<float> (*)(const float*, int64_t, int64_t);
using ScratchFn = int64_t (*)(int64_t, int64_t, int64_t);

// One variant: output tile side m, its weight transform and scratch size.
struct Variant {
  int64_t m;
  WeightsFn weights;
  ScratchFn scratch;
};
const Variant kF2{2, winograd_f2x3_weights, winograd_f2x3_scratch_floats};
const Variant kF4{4, winograd_f4x3_weights, winograd_f4x3_scratch_floats};

struct Problem {
  int64_t h, w, cin, cout;
  int64_t m = 2;  // output tile side: the tile grid follows it
  int64_t tiles() const { return ((h + m - 1) / m) * ((w + m - 1) / m); }
};

struct Data {
  // image [h][w][cin] exactly (no padding, no slack: an edge tile that read outside the image
  // would read past the allocation, which the sanitizer build reports), weight [cout][cin][3][3]
  std::vector<float> image, weight;
};

Data make(const Problem& p, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Data d;
  d.image.resize(static_cast<size_t>(p.h * p.w * p.cin));
  for (float& v : d.image) v = static_cast<float>(normal(gen));
  d.weight.resize(static_cast<size_t>(p.cout * p.cin * 9));
  for (float& v : d.weight) v = static_cast<float>(normal(gen) * 0.2);
  return d;
}

// Direct correlation in double, zero padding 1: out[y][x][o].
std::vector<double> direct(const Problem& p, const Data& d) {
  std::vector<double> out(static_cast<size_t>(p.h * p.w * p.cout), 0.0);
  for (int64_t y = 0; y < p.h; ++y)
    for (int64_t x = 0; x < p.w; ++x)
      for (int64_t o = 0; o < p.cout; ++o) {
        double s = 0;
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            const int64_t yy = y + i - 1, xx = x + j - 1;
            if (yy < 0 || yy >= p.h || xx < 0 || xx >= p.w) continue;
            for (int64_t c = 0; c < p.cin; ++c)
              s += double(d.image[(yy * p.w + xx) * p.cin + c]) *
                   d.weight[((o * p.cin + c) * 3 + i) * 3 + j];
          }
        out[(y * p.w + x) * p.cout + o] = s;
      }
  return out;
}

// The whole image through `fn` in tile ranges of `chunk`, output `pad` floats wider than cout.
std::vector<float> run(TilesFn fn, const Variant& v, const Problem& p, const Data& d,
                       const std::vector<float>& u, int64_t chunk, int64_t pad) {
  const int64_t ldo = p.cout + pad;
  std::vector<float> out(static_cast<size_t>(p.h * p.w * ldo), -7.0f);
  std::vector<float> scratch(static_cast<size_t>(v.scratch(chunk, p.cin, p.cout)));
  const WinogradImage im{d.image.data(), p.w, p.cin, p.h, p.w};
  for (int64_t t0 = 0; t0 < p.tiles(); t0 += chunk)
    fn(im, u.data(), p.cout, t0, std::min(chunk, p.tiles() - t0), out.data(), ldo, scratch.data());
  return out;
}

// `bound`: the largest error against the double convolution, relative to its largest value.
void check(TilesFn fn, const Variant& v, double bound) {
  const Problem problems[] = {{1, 1, 1, 1},    {2, 2, 3, 4},      {7, 7, 16, 32},
                              {5, 9, 20, 12},  {14, 13, 128, 32}, {6, 11, 33, 40},
                              {3, 8, 128, 48}, {12, 12, 64, 17},  {28, 28, 128, 32}};
  uint64_t seed = 11;
  for (Problem p : problems) {
    p.m = v.m;
    const Data d = make(p, seed++);
    const std::vector<float> u = v.weights(d.weight.data(), p.cout, p.cin);
    const std::vector<double> ref = direct(p, d);
    const int64_t pad = 5, ldo = p.cout + pad;
    const std::vector<float> whole = run(fn, v, p, d, u, p.tiles(), pad);
    double max_ref = 0, max_err = 0;
    for (int64_t q = 0; q < p.h * p.w; ++q) {
      for (int64_t o = 0; o < p.cout; ++o) {
        const double r = ref[q * p.cout + o];
        max_ref = std::max(max_ref, std::abs(r));
        max_err = std::max(max_err, std::abs(whole[q * ldo + o] - r));
      }
      for (int64_t o = p.cout; o < ldo; ++o)
        ASSERT_EQ(whole[q * ldo + o], -7.0f) << "wrote past cout at pixel " << q;
    }
    EXPECT_LT(max_err / std::max(max_ref, 1e-30), bound)
        << "F(" << v.m << "x" << v.m << ", 3x3) " << p.h << "x" << p.w << " cin " << p.cin
        << " cout " << p.cout;
    for (int64_t chunk : {1, 3, 8, 9}) {
      if (chunk >= p.tiles()) continue;
      EXPECT_EQ(run(fn, v, p, d, u, chunk, pad), whole)
          << "tile ranges of " << chunk << " change bits";
    }
  }
}

// F(2x2, 3x3): a direct f32 sum of 9 * cin terms is off by about sqrt(9 cin) ulps of its terms;
// the transforms (constants 0, +-1, +-1/2) add a few roundings of the same size.
TEST(Winograd, PlainMatchesDirectDoubleConvolution) {
  check(plain::winograd_f2x3_tiles, kF2, 2e-6);
}

TEST(Winograd, Avx512MatchesDirectDoubleConvolution) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check(avx512::winograd_f2x3_tiles, kF2, 2e-6);
}

// F(4x4, 3x3): its constants (up to 8 in A', 5 in B', 1/24 in G) amplify the roundings;
// measured up to 1.03e-5 here (F(2x2, 3x3): 5.6e-7), at 28 x 28 x 128 channels.
TEST(Winograd, F4PlainMatchesDirectDoubleConvolution) {
  check(plain::winograd_f4x3_tiles, kF4, 1.5e-5);
}

TEST(Winograd, F4Avx512MatchesDirectDoubleConvolution) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check(avx512::winograd_f4x3_tiles, kF4, 1.5e-5);
}

// The builds differ only by FMA against separate roundings: a few ulps of the largest value.
TEST(Winograd, PathsAgree) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  const std::pair<Variant, std::pair<TilesFn, TilesFn>> variants[] = {
      {kF2, {plain::winograd_f2x3_tiles, avx512::winograd_f2x3_tiles}},
      {kF4, {plain::winograd_f4x3_tiles, avx512::winograd_f4x3_tiles}}};
  for (const auto& [v, fns] : variants) {
    Problem p{9, 10, 128, 32};
    p.m = v.m;
    const Data d = make(p, 3);
    const std::vector<float> u = v.weights(d.weight.data(), p.cout, p.cin);
    const std::vector<float> a = run(fns.first, v, p, d, u, 8, 0);
    const std::vector<float> b = run(fns.second, v, p, d, u, 8, 0);
    double m = 0, e = 0;
    for (size_t i = 0; i < a.size(); ++i)
      m = std::max(m, double(std::abs(a[i]))), e = std::max(e, double(std::abs(a[i] - b[i])));
    EXPECT_LT(e / m, v.m == 2 ? 1e-6 : 4e-6) << "F(" << v.m << "x" << v.m << ", 3x3)";
  }
}

using Bf16TilesFn = void (*)(const WinogradImage&, const uint16_t*, int64_t, int64_t, int64_t,
                             float*, int64_t, float*);

std::vector<float> run_bf16(Bf16TilesFn fn, const Problem& p, const Data& d,
                            const std::vector<uint16_t>& uh, int64_t chunk) {
  std::vector<float> out(static_cast<size_t>(p.h * p.w * p.cout), -7.0f);
  std::vector<float> scratch(
      static_cast<size_t>(winograd_f2x3_bf16_scratch_floats(chunk, p.cin, p.cout)));
  const WinogradImage im{d.image.data(), p.w, p.cin, p.h, p.w};
  for (int64_t t0 = 0; t0 < p.tiles(); t0 += chunk)
    fn(im, uh.data(), p.cout, t0, std::min(chunk, p.tiles() - t0), out.data(), p.cout,
       scratch.data());
  return out;
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, double(std::abs(v)));
  return m;
}

// bf16 mixed precision: the reference (operands rounded to bf16, f32 sums over channels in
// order) is within bf16 rounding of the double convolution and not equal to the f32 result;
// the AMX products differ from it only by their summation order (pairs of channels per step),
// and their bits do not depend on the tile ranges. Channel counts that are not multiples of 32
// (zero-padded k), tile counts that are not multiples of 16 (padded rows), 1-3 column tiles.
TEST(Winograd, Bf16ProductsOnAmxMatchTheRoundedReference) {
  const Problem problems[] = {{2, 2, 3, 16},     {7, 7, 16, 32},  {5, 9, 20, 16},
                              {14, 13, 128, 32}, {6, 11, 33, 48}, {9, 10, 32, 128},
                              {28, 28, 128, 32}};
  const bool amx = winograd_f2x3_bf16_available(16);
  if (!amx) std::printf("no AMX here: checking the bf16 reference only\n");
  uint64_t seed = 41;
  for (const Problem& p : problems) {
    const Data d = make(p, seed++);
    const std::vector<float> u = winograd_f2x3_weights(d.weight.data(), p.cout, p.cin);
    const std::vector<uint16_t> uh = winograd_f2x3_weights_bf16(u, p.cin, p.cout);
    const std::vector<double> ref = direct(p, d);
    const std::vector<float> rounded = run_bf16(plain::winograd_f2x3_tiles_bf16, p, d, uh, 8);
    const std::vector<float> full = run(plain::winograd_f2x3_tiles, kF2, p, d, u, 8, 0);
    double max_ref = 0, err = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      max_ref = std::max(max_ref, std::abs(ref[i]));
      err = std::max(err, std::abs(rounded[i] - ref[i]));
    }
    EXPECT_LT(err / max_ref, 1e-2) << p.h << "x" << p.w << " cin " << p.cin;
    if (p.cin > 3) EXPECT_NE(rounded, full);  // the operands were rounded
    if (!amx) continue;
    const std::vector<float> tiles = run_bf16(avx512::winograd_f2x3_tiles_bf16, p, d, uh, 40);
    double diff = 0;
    for (size_t i = 0; i < tiles.size(); ++i)
      diff = std::max(diff, double(std::abs(tiles[i] - rounded[i])));
    EXPECT_LT(diff / max_abs(rounded), 2e-6) << p.h << "x" << p.w << " cin " << p.cin;
    for (int64_t chunk : {1, 3, 16, 17, 33})
      if (chunk < p.tiles())
        EXPECT_EQ(run_bf16(avx512::winograd_f2x3_tiles_bf16, p, d, uh, chunk), tiles)
            << "tile ranges of " << chunk << " change bits";
  }
}

}  // namespace
}  // namespace kiln::kernels
