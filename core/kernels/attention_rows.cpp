// Plain (baseline x86-64) build of the few-row attention loops, and the run-time dispatch.
#include "core/kernels/attention_rows.h"

#include "core/cpu_features.h"

#define KILN_ATTENTION_ROWS_NS plain
#include "core/kernels/attention_rows_impl.h"

namespace kiln::kernels {

void attention_scores_rows_plain(const float* q, int64_t ldq, const float* k, int64_t ldk,
                                 int64_t lq, int64_t lk, int64_t d, float scale, float* p) {
  plain::scores_rows(q, ldq, k, ldk, lq, lk, d, scale, p);
}

void attention_weighted_rows_plain(const float* p, int64_t lq, int64_t lk, const float* v,
                                   int64_t ldv, int64_t dv, float* o) {
  plain::weighted_rows(p, lq, lk, v, ldv, dv, o);
}

void attention_scores_rows(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t lq,
                           int64_t lk, int64_t d, float scale, float* p) {
  if (active_isa() == IsaLevel::kAvx512) {
    attention_scores_rows_avx512(q, ldq, k, ldk, lq, lk, d, scale, p);
  } else {
    attention_scores_rows_plain(q, ldq, k, ldk, lq, lk, d, scale, p);
  }
}

void attention_weighted_rows(const float* p, int64_t lq, int64_t lk, const float* v, int64_t ldv,
                             int64_t dv, float* o) {
  if (active_isa() == IsaLevel::kAvx512) {
    attention_weighted_rows_avx512(p, lq, lk, v, ldv, dv, o);
  } else {
    attention_weighted_rows_plain(p, lq, lk, v, ldv, dv, o);
  }
}

}  // namespace kiln::kernels
