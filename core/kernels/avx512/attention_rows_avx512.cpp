// AVX-512 build of the few-row attention loops (this directory is compiled with -mavx512f etc.);
// only reached through the dispatch in core/kernels/attention_rows.cpp.
#include "core/kernels/attention_rows.h"

#define KILN_ATTENTION_ROWS_NS avx512
#include "core/kernels/attention_rows_impl.h"

namespace kiln::kernels {

void attention_scores_rows_avx512(const float* q, int64_t ldq, const float* k, int64_t ldk,
                                  int64_t lq, int64_t lk, int64_t d, float scale, float* p) {
  avx512::scores_rows(q, ldq, k, ldk, lq, lk, d, scale, p);
}

void attention_weighted_rows_avx512(const float* p, int64_t lq, int64_t lk, const float* v,
                                    int64_t ldv, int64_t dv, float* o) {
  avx512::weighted_rows(p, lq, lk, v, ldv, dv, o);
}

}  // namespace kiln::kernels
