// The two products of attention for a few query rows (a decoder step: one query per sequence
// against the cached keys), the inner loops of the fused attention op.
// Why a kernel: through the GEMM, each (batch, head) of a decoder step packed its whole key and
// value block into the GEMM's B layout before multiplying a single row by it, so packing cost
// more than the product (perf, q4 BART-base step: pack_b 3-6% of the step). Here keys and values
// are read in place, each once.
// Semantics (both paths; `k`, `v` rows are unit-stride with row strides ldk, ldv):
//   scores:   p[i * lk + j] = scale * sum_t q_i[t] k_j[t], the sum over t in 16 lanes (lane l
//             takes t with t % 16 == l) combined pairwise in a fixed order, then the tail;
//   weighted: o[i * dv + c] = sum_j p[i * lk + j] v_j[c], summed over j in order.
// The AVX-512 build uses FMAs (and, for head sizes of whole 16-lane vectors, intrinsics that do the
// same additions per key), so the two paths may differ in the last bit;
// tests/core/perf_paths_test.cpp checks both against a double reference.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// Query rows at most this many go through these loops rather than the GEMM.
constexpr int64_t kAttentionRowsMax = 4;

// Dispatch on active_isa().
void attention_scores_rows(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t lq,
                           int64_t lk, int64_t d, float scale, float* p);
void attention_weighted_rows(const float* p, int64_t lq, int64_t lk, const float* v, int64_t ldv,
                             int64_t dv, float* o);

// The individual paths, for tests.
void attention_scores_rows_plain(const float* q, int64_t ldq, const float* k, int64_t ldk,
                                 int64_t lq, int64_t lk, int64_t d, float scale, float* p);
void attention_scores_rows_avx512(const float* q, int64_t ldq, const float* k, int64_t ldk,
                                  int64_t lq, int64_t lk, int64_t d, float scale, float* p);
void attention_weighted_rows_plain(const float* p, int64_t lq, int64_t lk, const float* v,
                                   int64_t ldv, int64_t dv, float* o);
void attention_weighted_rows_avx512(const float* p, int64_t lq, int64_t lk, const float* v,
                                    int64_t ldv, int64_t dv, float* o);

}  // namespace kiln::kernels
