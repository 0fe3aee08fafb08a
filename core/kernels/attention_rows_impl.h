// Loop bodies of core/kernels/attention_rows.h, included by the plain and the AVX-512
// translation units (each in its own namespace). Sums run in kLanes independent lanes so that GCC
// vectorises them without reassociating anything.
#pragma once

#include <cstdint>

namespace kiln::kernels::KILN_ATTENTION_ROWS_NS {
namespace {

constexpr int64_t kLanes = 16;

float dot_lanes(const float* a, const float* b, int64_t d) {
  float part[kLanes] = {};
  int64_t t = 0;
  for (; t + kLanes <= d; t += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) part[l] += a[t + l] * b[t + l];
  }
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
    for (int64_t l = 0; l < w; ++l) part[l] += part[l + w];
  }
  float sum = part[0];
  for (; t < d; ++t) sum += a[t] * b[t];
  return sum;
}

void scores_rows(const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t lq, int64_t lk,
                 int64_t d, float scale, float* p) {
  for (int64_t i = 0; i < lq; ++i) {
    for (int64_t j = 0; j < lk; ++j) p[i * lk + j] = scale * dot_lanes(q + i * ldq, k + j * ldk, d);
  }
}

void weighted_rows(const float* p, int64_t lq, int64_t lk, const float* v, int64_t ldv, int64_t dv,
                   float* o) {
  for (int64_t i = 0; i < lq; ++i) {
    float* out = o + i * dv;
    for (int64_t c = 0; c < dv; ++c) out[c] = 0.0f;
    for (int64_t j = 0; j < lk; ++j) {
      const float w = p[i * lk + j];
      const float* vr = v + j * ldv;
      for (int64_t c = 0; c < dv; ++c) out[c] += w * vr[c];
    }
  }
}

}  // namespace
}  // namespace kiln::kernels::KILN_ATTENTION_ROWS_NS
