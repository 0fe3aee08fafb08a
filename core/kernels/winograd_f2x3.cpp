// Plain (baseline x86-64) build of the Winograd F(2x2, 3x3) convolution, the weight transform and
// the run-time dispatch between paths.
#include "core/kernels/winograd_f2x3.h"

#include "core/cpu_features.h"

#define KILN_WINOGRAD_NS plain
#include "core/kernels/winograd_f2x3_impl.h"

namespace kiln::kernels {

namespace plain {
namespace {

// Plain loops over the channels (input_tile, output_tile: see winograd_f2x3_impl.h).
void input_tile(const float* __restrict p, int64_t row, int64_t cin, float* __restrict v,
                int64_t ldv) {
  const float* __restrict d0 = p;
  const float* __restrict d1 = p + row;
  const float* __restrict d2 = p + 2 * row;
  const float* __restrict d3 = p + 3 * row;
  for (int64_t c = 0; c < cin; ++c) {
    float r[4][4];  // B' d: combinations of the patch's rows, per column j
    for (int64_t j = 0; j < 4; ++j) {
      const float x0 = d0[j * cin + c], x1 = d1[j * cin + c], x2 = d2[j * cin + c],
                  x3 = d3[j * cin + c];
      r[0][j] = x0 - x2;
      r[1][j] = x1 + x2;
      r[2][j] = x2 - x1;
      r[3][j] = x1 - x3;
    }
    for (int64_t i = 0; i < 4; ++i) {  // (B' d) B: the same combinations of the columns
      v[(4 * i + 0) * ldv + c] = r[i][0] - r[i][2];
      v[(4 * i + 1) * ldv + c] = r[i][1] + r[i][2];
      v[(4 * i + 2) * ldv + c] = r[i][2] - r[i][1];
      v[(4 * i + 3) * ldv + c] = r[i][1] - r[i][3];
    }
  }
}

void output_tile(const float* __restrict m, int64_t cout, float* __restrict out, int64_t ldo,
                 int64_t row, int64_t ny, int64_t nx) {
  auto y = [&](int64_t o, float(&t)[2][2]) {
    float q[2][4];  // A' m, per column j
    for (int64_t j = 0; j < 4; ++j) {
      const float s0 = m[j * cout + o], s1 = m[(4 + j) * cout + o], s2 = m[(8 + j) * cout + o],
                  s3 = m[(12 + j) * cout + o];
      q[0][j] = (s0 + s1) + s2;
      q[1][j] = (s1 - s2) - s3;
    }
    for (int64_t a = 0; a < 2; ++a) {
      t[a][0] = (q[a][0] + q[a][1]) + q[a][2];
      t[a][1] = (q[a][1] - q[a][2]) - q[a][3];
    }
  };
  if (ny == 2 && nx == 2) {  // the common case as one branch-free loop
    float* __restrict o00 = out;
    float* __restrict o01 = out + ldo;
    float* __restrict o10 = out + row;
    float* __restrict o11 = out + row + ldo;
    for (int64_t o = 0; o < cout; ++o) {
      float t[2][2];
      y(o, t);
      o00[o] = t[0][0], o01[o] = t[0][1], o10[o] = t[1][0], o11[o] = t[1][1];
    }
    return;
  }
  for (int64_t o = 0; o < cout; ++o) {
    float t[2][2];
    y(o, t);
    for (int64_t a = 0; a < ny; ++a)
      for (int64_t b = 0; b < nx; ++b) out[a * row + b * ldo + o] = t[a][b];
  }
}

void tile_products(const float* v, int64_t ldv, int64_t count, int64_t cin, const float* u,
                   int64_t cout, float* m) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t xi = 0; xi < 16; ++xi) {
      const float* a = v + xi * ldv + r * cin;
      float* __restrict mo = m + (r * 16 + xi) * cout;
      for (int64_t o = 0; o < cout; ++o) mo[o] = 0.0f;
      for (int64_t c = 0; c < cin; ++c) {
        const float ac = a[c];
        const float* __restrict ur = u + (xi * cin + c) * cout;
        for (int64_t o = 0; o < cout; ++o) mo[o] += ac * ur[o];
      }
    }
}

}  // namespace
}  // namespace plain

std::vector<float> winograd_f2x3_weights(const float* w, int64_t cout, int64_t cin) {
  // G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  std::vector<float> u(static_cast<size_t>(16 * cin * cout));
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c) {
      const float* g = w + (o * cin + c) * 9;
      double gg[4][3];  // G g
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 3; ++j)
          gg[i][j] = kG[i][0] * g[j] + kG[i][1] * g[3 + j] + kG[i][2] * g[6 + j];
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j) {  // (G g) G'
          const double s = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[static_cast<size_t>(((4 * i + j) * cin + c) * cout + o)] = static_cast<float>(s);
        }
    }
  return u;
}

int64_t winograd_f2x3_scratch_floats(int64_t count, int64_t cin, int64_t cout) {
  return 16 * (count * (cin + cout) + 16);  // + the padding of winograd_f2x3_impl.h
}

void winograd_f2x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch) {
  (active_isa() == IsaLevel::kAvx512 ? avx512::winograd_f2x3_tiles : plain::winograd_f2x3_tiles)(
      image, u, cout, t0, count, out, ldo, scratch);
}

}  // namespace kiln::kernels
