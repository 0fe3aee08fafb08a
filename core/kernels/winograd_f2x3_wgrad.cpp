#include "core/kernels/winograd_f2x3_wgrad.h"

#include <algorithm>
#include <vector>

#include "core/gemm.h"
#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

// Tiles per GEMM: K of the 16 products. Their V (16 x 128 x cin floats) and M stay in L2, and
// K = 128 keeps the reads and writes of the products' C (cin x cout) small beside the work.
constexpr int64_t kTiles = 128;
constexpr int64_t kGroups = 8;  // fixed partial sums: the result does not depend on the threads

struct Grid {
  int64_t n, h, w, th, tw;
  int64_t tiles() const { return n * th * tw; }
  // Grid row of padded position (py, px) of image img (0 <= py < h + 2, 0 <= px < w + 2).
  int64_t row(int64_t img, int64_t py, int64_t px) const {
    return (img * (h + 2) + py) * (w + 2) + px;
  }
};

// v[xi * T + t][c] = (B' d B)[xi] of tile t's 4x4 input patch, for `count` tiles from t0 (T the
// chunk's tile count). A patch row or column past the grid (odd h or w: the last tile's) is
// zero: only the tile's missing output row or column, whose gradient is zero, would read it.
void input_transforms(const Grid& g, const float* a, int64_t c, int64_t t0, int64_t count, float* v,
                      float* patch, float* r) {
  for (int64_t t = 0; t < count; ++t) {
    const int64_t id = t0 + t, img = id / (g.th * g.tw), ty = id / g.tw % g.th, tx = id % g.tw;
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t py = 2 * ty + i, px = 2 * tx + j;
        float* d = patch + (4 * i + j) * c;
        if (py < g.h + 2 && px < g.w + 2)
          std::copy(a + g.row(img, py, px) * c, a + (g.row(img, py, px) + 1) * c, d);
        else
          std::fill(d, d + c, 0.0f);
      }
    // Columns: r[i][j] = (B' d)[i][j]; then rows: (B' d B)[i][j].
    for (int64_t j = 0; j < 4; ++j) {
      const float* d0 = patch + j * c;
      const float* d1 = patch + (4 + j) * c;
      const float* d2 = patch + (8 + j) * c;
      const float* d3 = patch + (12 + j) * c;
      float* r0 = r + j * c;
      float* r1 = r + (4 + j) * c;
      float* r2 = r + (8 + j) * c;
      float* r3 = r + (12 + j) * c;
      for (int64_t k = 0; k < c; ++k) {
        r0[k] = d0[k] - d2[k];
        r1[k] = d1[k] + d2[k];
        r2[k] = d2[k] - d1[k];
        r3[k] = d1[k] - d3[k];
      }
    }
    for (int64_t i = 0; i < 4; ++i) {
      const float* q0 = r + (4 * i) * c;
      const float* q1 = r + (4 * i + 1) * c;
      const float* q2 = r + (4 * i + 2) * c;
      const float* q3 = r + (4 * i + 3) * c;
      float* o0 = v + ((4 * i) * count + t) * c;
      float* o1 = v + ((4 * i + 1) * count + t) * c;
      float* o2 = v + ((4 * i + 2) * count + t) * c;
      float* o3 = v + ((4 * i + 3) * count + t) * c;
      for (int64_t k = 0; k < c; ++k) {
        o0[k] = q0[k] - q2[k];
        o1[k] = q1[k] + q2[k];
        o2[k] = q2[k] - q1[k];
        o3[k] = q1[k] - q3[k];
      }
    }
  }
}

// m[xi * T + t][o] = (A dY A')[xi] of tile t's 2x2 output gradient, A = [1 0; 1 1; 1 -1; 0 -1].
// The tile's outputs are always inside the grid (a missing one is a border position, zero).
void gradient_transforms(const Grid& g, const float* gy, int64_t c, int64_t t0, int64_t count,
                         float* m, float* q) {
  for (int64_t t = 0; t < count; ++t) {
    const int64_t id = t0 + t, img = id / (g.th * g.tw), ty = id / g.tw % g.th, tx = id % g.tw;
    const float* y00 = gy + g.row(img, 2 * ty + 1, 2 * tx + 1) * c;
    const float* y01 = y00 + c;
    const float* y10 = gy + g.row(img, 2 * ty + 2, 2 * tx + 1) * c;
    const float* y11 = y10 + c;
    // q[r][b] = (A dY)[r][b] for b = 0, 1.
    for (int64_t b = 0; b < 2; ++b) {
      const float* y0 = b == 0 ? y00 : y01;
      const float* y1 = b == 0 ? y10 : y11;
      float* q0 = q + (0 * 2 + b) * c;
      float* q1 = q + (1 * 2 + b) * c;
      float* q2 = q + (2 * 2 + b) * c;
      float* q3 = q + (3 * 2 + b) * c;
      for (int64_t k = 0; k < c; ++k) {
        q0[k] = y0[k];
        q1[k] = y0[k] + y1[k];
        q2[k] = y0[k] - y1[k];
        q3[k] = -y1[k];
      }
    }
    for (int64_t r = 0; r < 4; ++r) {
      const float* a0 = q + (r * 2) * c;
      const float* a1 = q + (r * 2 + 1) * c;
      float* o0 = m + ((4 * r) * count + t) * c;
      float* o1 = m + ((4 * r + 1) * count + t) * c;
      float* o2 = m + ((4 * r + 2) * count + t) * c;
      float* o3 = m + ((4 * r + 3) * count + t) * c;
      for (int64_t k = 0; k < c; ++k) {
        o0[k] = a0[k];
        o1[k] = a0[k] + a1[k];
        o2[k] = a0[k] - a1[k];
        o3[k] = -a1[k];
      }
    }
  }
}

thread_local std::vector<float> t_buf;

}  // namespace

void winograd_f2x3_weight_grad(const float* a, int64_t cin, const float* gy, int64_t cout,
                               int64_t n, int64_t h, int64_t w, float* dw) {
  const Grid g{n, h, w, (h + 1) / 2, (w + 1) / 2};
  const int64_t tiles = g.tiles(), chunks = (tiles + kTiles - 1) / kTiles;
  const int64_t groups = std::min(kGroups, chunks), per_xi = cin * cout;
  std::vector<float> part(static_cast<size_t>(groups * 16 * per_xi), 0.0f);
  parallel_for(0, groups, 1, [&](int64_t gb, int64_t ge) {
    const int64_t need = 16 * kTiles * (cin + cout) + 32 * cin + 8 * cout;
    if (static_cast<int64_t>(t_buf.size()) < need) t_buf.resize(static_cast<size_t>(need));
    float* v = t_buf.data();
    float* m = v + 16 * kTiles * cin;
    float* patch = m + 16 * kTiles * cout;
    float* r = patch + 16 * cin;
    float* q = r + 16 * cin;
    for (int64_t grp = gb; grp < ge; ++grp) {
      float* du = part.data() + grp * 16 * per_xi;
      for (int64_t ch = grp * chunks / groups; ch < (grp + 1) * chunks / groups; ++ch) {
        const int64_t t0 = ch * kTiles, count = std::min(kTiles, tiles - t0);
        input_transforms(g, a, cin, t0, count, v, patch, r);
        gradient_transforms(g, gy, cout, t0, count, m, q);
        for (int64_t xi = 0; xi < 16; ++xi)
          gemm::sgemm(true, false, cin, cout, count, 1.0f, v + xi * count * cin, cin,
                      m + xi * count * cout, cout, 1.0f, du + xi * per_xi, cout);
      }
    }
  });
  for (int64_t grp = 1; grp < groups; ++grp)
    for (int64_t i = 0; i < 16 * per_xi; ++i) part[i] += part[grp * 16 * per_xi + i];
  // dw = G' dU G per channel pair, in double, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  parallel_for(0, cout, 4, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o)
      for (int64_t c = 0; c < cin; ++c) {
        double u[4][4];
        for (int64_t xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = part[xi * per_xi + c * cout + o];
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            double s = 0;
            for (int64_t p = 0; p < 4; ++p)
              for (int64_t k = 0; k < 4; ++k) s += G[p][i] * u[p][k] * G[k][j];
            dw[(o * cin + c) * 9 + i * 3 + j] = static_cast<float>(s);
          }
      }
  });
}

}  // namespace kiln::kernels
