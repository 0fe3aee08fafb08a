// The Winograd transforms of core/kernels/winograd_f2x3.h as templates over the value type, so the
// plain build (V = float, one channel at a time) and the AVX-512 build (V = __m512, 16 channels)
// run the same operations in the same order. Lavin & Gray's matrices:
//   F(2x2, 3x3): B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A' = [1 1 1 0; 0 1 -1 -1];
//   F(4x4, 3x3): B' = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
//                      0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//                A' = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
// each written with shared subexpressions (checked against the matrices in
// tests/core/winograd_f2x3_test.cpp through the whole convolution).
#pragma once

namespace kiln::kernels::winograd {

// t = B' d for one column (or row) d of an (M + 2)-point patch.
template <int M, class V>
inline void input_1d(const V* d, V* t) {
  if constexpr (M == 2) {
    t[0] = d[0] - d[2];
    t[1] = d[1] + d[2];
    t[2] = d[2] - d[1];
    t[3] = d[1] - d[3];
  } else {
    static_assert(M == 4);
    const V a = d[4] - d[2] * 4.0f, b = d[3] - d[1] * 4.0f;
    const V c = d[4] - d[2], e = (d[3] - d[1]) * 2.0f;
    t[0] = (d[0] - d[2]) * 4.0f + c;
    t[1] = a + b;
    t[2] = a - b;
    t[3] = c + e;
    t[4] = c - e;
    t[5] = (d[1] - d[3]) * 4.0f + (d[5] - d[3]);
  }
}

// y = A' s for one column (or row) s of M + 2 products.
template <int M, class V>
inline void output_1d(const V* s, V* y) {
  if constexpr (M == 2) {
    y[0] = (s[0] + s[1]) + s[2];
    y[1] = (s[1] - s[2]) - s[3];
  } else {
    static_assert(M == 4);
    const V p = s[1] + s[2], q = s[1] - s[2], r = s[3] + s[4], t = s[3] - s[4];
    y[0] = (s[0] + p) + r;
    y[1] = q + t * 2.0f;
    y[2] = p + r * 4.0f;
    y[3] = (q + t * 8.0f) + s[5];
  }
}

// B' d B of one patch: load(i, j) gives patch row i, column j; store(xi, value) takes position
// xi = (M + 2) * i + j of the transformed patch. Columns first, then rows.
template <int M, class V, class Load, class Store>
inline void input_2d(Load load, Store store) {
  constexpr int kT = M + 2;
  V r[kT][kT];  // r[i][j] = (B' d)[i][j]
  for (int j = 0; j < kT; ++j) {
    V d[kT], t[kT];
    for (int i = 0; i < kT; ++i) d[i] = load(i, j);
    input_1d<M>(d, t);
    for (int i = 0; i < kT; ++i) r[i][j] = t[i];
  }
  for (int i = 0; i < kT; ++i) {
    V t[kT];
    input_1d<M>(r[i], t);
    for (int j = 0; j < kT; ++j) store(kT * i + j, t[j]);
  }
}

// A' m A of one tile's products: load(xi) gives position xi; store(a, b, value) takes output
// pixel (a, b) of the M x M tile. Columns first, then rows.
template <int M, class V, class Load, class Store>
inline void output_2d(Load load, Store store) {
  constexpr int kT = M + 2;
  V q[M][kT];  // q[a][j] = (A' m)[a][j]
  for (int j = 0; j < kT; ++j) {
    V s[kT], y[M];
    for (int i = 0; i < kT; ++i) s[i] = load(kT * i + j);
    output_1d<M>(s, y);
    for (int a = 0; a < M; ++a) q[a][j] = y[a];
  }
  for (int a = 0; a < M; ++a) {
    V y[M];
    output_1d<M>(q[a], y);
    for (int b = 0; b < M; ++b) store(a, b, y[b]);
  }
}

}  // namespace kiln::kernels::winograd
