// Loop body of core/kernels/norm_row.h, included by the plain and the AVX-512 translation units
// (each in its own namespace). Sums live in kLanes independent f64 lanes so that GCC vectorises
// them without reassociating anything.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/kernels/norm_row.h"

namespace kiln::kernels::KILN_NORM_ROW_NS {
namespace {

constexpr int64_t kLanes = 16;

// sum_j term(j) over [0, n): lane l takes j % kLanes == l, then a fixed pairwise combination.
template <typename F>
double lane_sum(int64_t n, F term) {
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) s[l] += term(j + l);
  }
  for (int64_t l = 0; j + l < n; ++l) s[l] += term(j + l);
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
    for (int64_t l = 0; l < w; ++l) s[l] += s[l + w];
  }
  return s[0];
}

NormRowStats norm_row(const float* x, const float* w, const float* b, float* y, int64_t d,
                      double eps, bool rms) {
  float mu = 0.0f;
  double ss;
  if (rms) {
    ss = lane_sum(d, [&](int64_t j) { return static_cast<double>(x[j]) * x[j]; });
  } else {
    mu = static_cast<float>(lane_sum(d, [&](int64_t j) { return static_cast<double>(x[j]); }) /
                            static_cast<double>(d));
    ss = lane_sum(d, [&](int64_t j) {
      const float c = x[j] - mu;
      return static_cast<double>(c) * c;
    });
  }
  const float rstd = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
  if (w != nullptr && b != nullptr) {
    for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - mu) * rstd * w[j] + b[j];
  } else if (w != nullptr) {
    for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - mu) * rstd * w[j];
  } else if (b != nullptr) {
    for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - mu) * rstd + b[j];
  } else {
    for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - mu) * rstd;
  }
  return {mu, rstd};
}

}  // namespace
}  // namespace kiln::kernels::KILN_NORM_ROW_NS
