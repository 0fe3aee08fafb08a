// Helpers of the tests that compare kiln against reference outputs (../shared/refs): the largest
// element-wise difference of two tensors, the message of a failing call, and JSON files.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace kiln::testing {

// Max |a - b| over all elements; the shapes must agree (a failed expectation otherwise).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Norm of the difference / norm of `want` (the norm of the difference when `want` is zero).
inline double rel_norm_diff(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  const auto x = got.to_vector(), y = want.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Max |got - want| / max |want| ("relative to the tensor's max"; absolute when `want` is zero).
inline double max_diff_over_max(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  const auto x = got.to_vector(), y = want.to_vector();
  double m = 0, scale = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    m = std::max(m, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale == 0 ? m : m / scale;
}

// What f throws as a kiln Error, or "(no error)".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Row `row` of a [rows, n] integer tensor.
inline std::vector<int64_t> row_of(const Tensor& t, int64_t row) {
  const std::vector<int64_t> all = t.to_ints();
  const int64_t n = t.size(1);
  return {all.begin() + row * n, all.begin() + (row + 1) * n};
}

}  // namespace kiln::testing
