// Loop body of core/kernels/softmax_row.h, included by the plain and the AVX-512 translation
// units (each in its own namespace). Partial maxima and sums live in kLanes independent lanes so
// that GCC vectorises both reductions without reassociating anything.
#pragma once

#include <cstdint>
#include <limits>

#include "core/kernels/fast_exp.h"

namespace kiln::kernels::KILN_SOFTMAX_NS {
namespace {

constexpr int64_t kLanes = 16;

bool softmax_row_loop(float* row, int64_t n) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  // Lane l sees elements j with j % kLanes == l (the tail included), so lane contents depend on
  // the row alone.
  float mx[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) mx[l] = kNegInf;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) mx[l] = row[j + l] > mx[l] ? row[j + l] : mx[l];
  }
  for (int64_t l = 0; j + l < n; ++l) mx[l] = row[j + l] > mx[l] ? row[j + l] : mx[l];
  float m = mx[0];
  for (int64_t l = 1; l < kLanes; ++l) m = mx[l] > m ? mx[l] : m;
  if (m == kNegInf) {  // nothing visible (or n == 0): a zero row, never NaN
    for (int64_t i = 0; i < n; ++i) row[i] = 0.0f;
    return false;
  }
  for (int64_t i = 0; i < n; ++i) row[i] = exp_nonpos(row[i] - m);
  double s[kLanes] = {};
  for (j = 0; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) s[l] += static_cast<double>(row[j + l]);
  }
  for (int64_t l = 0; j + l < n; ++l) s[l] += static_cast<double>(row[j + l]);
  // Fixed pairwise combination of the lanes.
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
    for (int64_t l = 0; l < w; ++l) s[l] += s[l + w];
  }
  const float inv = static_cast<float>(1.0 / s[0]);
  for (int64_t i = 0; i < n; ++i) row[i] *= inv;
  return true;
}

}  // namespace
}  // namespace kiln::kernels::KILN_SOFTMAX_NS
