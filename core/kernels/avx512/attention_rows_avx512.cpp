// AVX-512 build of the few-row attention loops (this directory is compiled with -mavx512f etc.);
// only reached through the dispatch in core/kernels/attention_rows.cpp.
// The scores of a head size that is a whole number of 16-lane vectors are computed 16 keys at a
// time: each key's 16 lane partials stay in a register, and the 16 keys' pairwise lane trees
// run together as shuffles between registers, ending in one vector of 16 scores. Per key that
// is the same additions in the same order as the auto-vectorised loop (dot_lanes), which had to
// spill each key's partials and reduce them one key at a time: at a 512-token source the scores
// took 12% of an int8 BART step, twice the weighted sum (perf).
#include "core/kernels/attention_rows.h"

#include <immintrin.h>

// GCC 12 warns that the _mm512_undefined_ps() pass-through inside its shuffle and permute
// intrinsics "may be used uninitialized" (a false positive in its own header).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define KILN_ATTENTION_ROWS_NS avx512
#include "core/kernels/attention_rows_impl.h"

namespace kiln::kernels {
namespace {

// Output position k of the last tree step holds key 4 (k % 4) + k / 4 (see reduce16).
struct KeyOrder {
  alignas(64) int32_t idx[16];
  constexpr KeyOrder() : idx() {
    for (int k = 0; k < 16; ++k) idx[k] = 4 * (k % 4) + k / 4;
  }
};
constexpr KeyOrder kKeyOrder;

// The sums of 16 keys' lane partials p[u] (lane l: the terms t with t % 16 == l), each combined
// as dot_lanes does: lanes l and l + 8, then l and l + 4, l and l + 2, l and l + 1.
__m512 reduce16(const __m512 (&p)[16]) {
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i) {  // lanes 0-7: key 2i's l + (l + 8); lanes 8-15: key 2i + 1's
    a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0xEE));
  }
  for (int i = 0; i < 4; ++i) {  // 128-bit lane q: key 4i + q's l + (l + 4)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  for (int i = 0; i < 2; ++i) {  // lane q: keys 8i + q and 8i + 4 + q, l + (l + 2), 2 each
    c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // Lane 4q + r: key 4r + q, l + (l + 1).
  const __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_permutexvar_ps(_mm512_load_si512(kKeyOrder.idx), d);
}

void scores_16_keys(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t lq,
                    int64_t lk, int64_t d, float scale, float* p) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < lq; ++i) {
    const float* qi = q + i * ldq;
    for (int64_t j0 = 0; j0 < lk; j0 += 16) {
      const int64_t n = lk - j0 < 16 ? lk - j0 : 16;
      __m512 part[16];
      for (int u = 0; u < 16; ++u) {
        part[u] = _mm512_setzero_ps();
        if (u >= n) continue;
        const float* kj = k + (j0 + u) * ldk;
        for (int64_t t = 0; t < d; t += 16)
          part[u] = _mm512_fmadd_ps(_mm512_loadu_ps(qi + t), _mm512_loadu_ps(kj + t), part[u]);
      }
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
      _mm512_mask_storeu_ps(p + i * lk + j0, mask, _mm512_mul_ps(vscale, reduce16(part)));
    }
  }
}

// o_i = sum_j p[i][j] v_j for V 16-lane vectors of values (head sizes 16 to 128): the output row
// stays in registers across the keys (the auto-vectorised loop stored and reloaded it for every
// key, a store-to-load chain per key). The same order over j, so the same sums.
template <int V>
void weighted_in_registers(const float* p, int64_t lq, int64_t lk, const float* v, int64_t ldv,
                           float* o) {
  for (int64_t i = 0; i < lq; ++i) {
    __m512 acc[V];
    for (int c = 0; c < V; ++c) acc[c] = _mm512_setzero_ps();
    const float* pi = p + i * lk;
    for (int64_t j = 0; j < lk; ++j) {
      const __m512 w = _mm512_set1_ps(pi[j]);
      const float* vj = v + j * ldv;
      for (int c = 0; c < V; ++c) acc[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(vj + 16 * c), acc[c]);
    }
    for (int c = 0; c < V; ++c) _mm512_storeu_ps(o + i * 16 * V + 16 * c, acc[c]);
  }
}

}  // namespace

void attention_scores_rows_avx512(const float* q, int64_t ldq, const float* k, int64_t ldk,
                                  int64_t lq, int64_t lk, int64_t d, float scale, float* p) {
  if (d % 16 == 0 && d > 0) {
    scores_16_keys(q, ldq, k, ldk, lq, lk, d, scale, p);
  } else {
    avx512::scores_rows(q, ldq, k, ldk, lq, lk, d, scale, p);
  }
}

void attention_weighted_rows_avx512(const float* p, int64_t lq, int64_t lk, const float* v,
                                    int64_t ldv, int64_t dv, float* o) {
  switch (dv) {
    case 16:
      return weighted_in_registers<1>(p, lq, lk, v, ldv, o);
    case 32:
      return weighted_in_registers<2>(p, lq, lk, v, ldv, o);
    case 64:
      return weighted_in_registers<4>(p, lq, lk, v, ldv, o);
    case 128:
      return weighted_in_registers<8>(p, lq, lk, v, ldv, o);
    default:
      avx512::weighted_rows(p, lq, lk, v, ldv, dv, o);
  }
}

}  // namespace kiln::kernels
