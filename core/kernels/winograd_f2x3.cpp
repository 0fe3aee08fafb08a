// Plain (baseline x86-64) build of the Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions, the
// weight transform and the run-time dispatch between paths.
#include "core/kernels/winograd_f2x3.h"

#include <string>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/kernels/winograd_transforms.h"
#include "core/thread_pool.h"

#define KILN_WINOGRAD_NS plain
#include "core/kernels/winograd_f2x3_impl.h"

namespace kiln::kernels {

namespace plain {
namespace {

// Plain loops over the channels, one channel's patch at a time (see winograd_f2x3_impl.h).
template <int M>
void input_tile(const WinogradImage& im, int64_t y0, int64_t x0, bool inside, float* v,
                int64_t ldv) {
  const int64_t cin = im.cin;
  for (int64_t c = 0; c < cin; ++c)
    winograd::input_2d<M, float>(
        [&](int i, int j) {
          const int64_t y = y0 + i, x = x0 + j;
          if (!inside && (y < 0 || y >= im.h || x < 0 || x >= im.w)) return 0.0f;
          return im.in[(y * im.stride + x) * cin + c];
        },
        [&](int xi, float t) { v[xi * ldv + c] = t; });
}

template <int M>
void output_tile(const float* m, int64_t ldm, int64_t cout, float* out, int64_t ldo, int64_t row,
                 int64_t ny, int64_t nx) {
  for (int64_t o = 0; o < cout; ++o)
    winograd::output_2d<M, float>([&](int xi) { return m[xi * ldm + o]; },
                                  [&](int a, int b, float y) {
                                    if (a < ny && b < nx) out[a * row + b * ldo + o] = y;
                                  });
}

void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, int64_t positions, float* m) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t xi = 0; xi < positions; ++xi) {
      const float* a = v + xi * ldv + r * cin;
      float* __restrict mo = m + (r * positions + xi) * cout;
      for (int64_t o = 0; o < cout; ++o) mo[o] = 0.0f;
      for (int64_t c = 0; c < cin; ++c) {
        const float ac = a[c];
        const float* __restrict ur = u + (xi * cin + c) * cout;
        for (int64_t o = 0; o < cout; ++o) mo[o] += ac * ur[o];
      }
    }
}

// The reference for the AMX products: the same bf16 operands, products summed in f32 over k
// ascending, into the same position-major layout.
void tile_products_bf16(const float* v, int64_t ldv, int64_t count, int64_t cin, const uint16_t* uh,
                        int64_t cout, int64_t positions, float* m) {
  const int64_t kp = (cin + 31) / 32 * 32;
  for (int64_t r = 0; r < count; ++r)
    for (int64_t xi = 0; xi < positions; ++xi) {
      const float* a = v + xi * ldv + r * cin;
      const uint16_t* u = uh + xi * kp * cout;
      float* mo = m + (xi * ((count + 15) / 16 * 16) + r) * cout;
      for (int64_t o = 0; o < cout; ++o) mo[o] = 0.0f;
      for (int64_t c = 0; c < cin; ++c) {
        const float ac = bf16_to_f32(f32_to_bf16(a[c]));
        const uint16_t* ur = u + (c / 2) * 2 * cout + (c % 2);
        for (int64_t o = 0; o < cout; ++o) mo[o] += ac * bf16_to_f32(ur[2 * o]);
      }
    }
}

}  // namespace
}  // namespace plain

namespace {

// G g G' of every [3, 3] kernel g of a [cout, cin, 3, 3] weight, in double, rounded once, into
// u[(xi * cin + c) * cout + o] (xi = T * row + column of the T x T transformed kernel).
template <int kT>
std::vector<float> transform_weights(const double (&G)[kT][3], const float* w, int64_t cout,
                                     int64_t cin) {
  std::vector<float> u(static_cast<size_t>(kT * kT * cin * cout));
  // Split by input channel (disjoint outputs; each task writes whole rows of cout values, so no
  // cache line is written by two threads): a training step transforms every 3x3 weight, forward
  // and backward, so this loop is on its critical path.
  parallel_for(0, cin, 16, [&](int64_t c0, int64_t c1) {
    // Per input channel, the nine taps of every output channel's kernel side by side, so the
    // loops below run along o (contiguous, vectorised) with the same operations per value.
    std::vector<double> g(static_cast<size_t>(9 * cout)), gg(static_cast<size_t>(kT * 3 * cout));
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t o = 0; o < cout; ++o)
        for (int64_t t = 0; t < 9; ++t) g[t * cout + o] = w[(o * cin + c) * 9 + t];
      for (int64_t i = 0; i < kT; ++i)  // G g
        for (int64_t j = 0; j < 3; ++j) {
          double* __restrict d = gg.data() + (i * 3 + j) * cout;
          const double* __restrict g0 = g.data() + j * cout;
          const double* __restrict g1 = g.data() + (3 + j) * cout;
          const double* __restrict g2 = g.data() + (6 + j) * cout;
          for (int64_t o = 0; o < cout; ++o)
            d[o] = G[i][0] * g0[o] + G[i][1] * g1[o] + G[i][2] * g2[o];
        }
      for (int64_t i = 0; i < kT; ++i)
        for (int64_t j = 0; j < kT; ++j) {  // (G g) G'
          float* __restrict d = u.data() + ((kT * i + j) * cin + c) * cout;
          const double* __restrict h0 = gg.data() + (i * 3 + 0) * cout;
          const double* __restrict h1 = gg.data() + (i * 3 + 1) * cout;
          const double* __restrict h2 = gg.data() + (i * 3 + 2) * cout;
          for (int64_t o = 0; o < cout; ++o)
            d[o] = static_cast<float>(h0[o] * G[j][0] + h1[o] * G[j][1] + h2[o] * G[j][2]);
        }
    }
  });
  return u;
}

}  // namespace

std::vector<float> winograd_f2x3_weights(const float* w, int64_t cout, int64_t cin) {
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  return transform_weights(kG, w, cout, cin);
}

std::vector<float> winograd_f4x3_weights(const float* w, int64_t cout, int64_t cin) {
  static constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  return transform_weights(kG, w, cout, cin);
}

namespace {

// The driver's scratch (winograd_f2x3_impl.h): per position, count tiles' transformed inputs
// (cin) and products (cout), plus the padding between positions' blocks.
int64_t scratch_floats(int64_t positions, int64_t count, int64_t cin, int64_t cout) {
  return positions * (count * (cin + cout) + plain::kPositionPad);
}

}  // namespace

int64_t winograd_f2x3_scratch_floats(int64_t count, int64_t cin, int64_t cout) {
  return scratch_floats(16, count, cin, cout);
}

int64_t winograd_f2x3_bf16_scratch_floats(int64_t count, int64_t cin, int64_t cout) {
  return scratch_floats(16, count, cin, cout) + 16 * 16 * cout;  // m's rows up to a 16 multiple
}

bool winograd_f2x3_bf16_available(int64_t cout) {
  return cout % 16 == 0 && active_isa() == IsaLevel::kAvx512 &&
         std::string(gemm::bf16gemm_backend()) == "kiln-amx-bf16";
}

std::vector<uint16_t> winograd_f2x3_weights_bf16(const std::vector<float>& u, int64_t cin,
                                                 int64_t cout) {
  const int64_t kp = (cin + 31) / 32 * 32;
  std::vector<uint16_t> uh(static_cast<size_t>(16 * kp * cout), 0);
  parallel_for(0, 16, 1, [&](int64_t x0, int64_t x1) {
    for (int64_t xi = x0; xi < x1; ++xi)
      for (int64_t c = 0; c < cin; ++c)
        for (int64_t o = 0; o < cout; ++o)
          uh[static_cast<size_t>(xi * kp * cout + (c / 2) * 2 * cout + 2 * o + c % 2)] =
              f32_to_bf16(u[static_cast<size_t>((xi * cin + c) * cout + o)]);
  });
  return uh;
}

void winograd_f2x3_tiles_bf16(const WinogradImage& image, const uint16_t* uh, int64_t cout,
                              int64_t t0, int64_t count, float* out, int64_t ldo, float* scratch) {
  KILN_CHECK(winograd_f2x3_bf16_available(cout),
             "winograd_f2x3_tiles_bf16: needs AMX and cout % 16 == 0, got cout ", cout);
  avx512::winograd_f2x3_tiles_bf16(image, uh, cout, t0, count, out, ldo, scratch);
}

int64_t winograd_f4x3_scratch_floats(int64_t count, int64_t cin, int64_t cout) {
  return scratch_floats(36, count, cin, cout);
}

void winograd_f2x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  (active_isa() == IsaLevel::kAvx512 ? avx512::winograd_f2x3_tiles : plain::winograd_f2x3_tiles)(
      image, u, cout, t0, count, out, ldo, scratch);
}

void winograd_f4x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  (active_isa() == IsaLevel::kAvx512 ? avx512::winograd_f4x3_tiles : plain::winograd_f4x3_tiles)(
      image, u, cout, t0, count, out, ldo, scratch);
}

}  // namespace kiln::kernels
