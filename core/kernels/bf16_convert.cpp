// Plain (baseline x86-64) build of the f32 -> bf16 row loop, the run-time dispatch between the
// builds, and the array / matrix conversions on top of it.
#include "core/kernels/bf16_convert.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

#define KILN_BF16_NS plain
#include "core/kernels/bf16_convert_impl.h"

namespace kiln::kernels {
namespace {

constexpr int64_t kGrain = 1 << 16;  // elements per task: conversion is memory bound

void convert_row(const float* src, uint16_t* dst, int64_t n) {
  if (active_isa() == IsaLevel::kAvx512)
    f32_to_bf16_row_avx512(src, dst, n);
  else
    f32_to_bf16_row_plain(src, dst, n);
}

}  // namespace

void f32_to_bf16_row_plain(const float* src, uint16_t* dst, int64_t n) {
  plain::f32_to_bf16_row(src, dst, n);
}

void f32_to_bf16_array(const float* src, uint16_t* dst, int64_t n) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { convert_row(src + b, dst + b, e - b); });
}

void f32_to_bf16_matrix(const float* src, int64_t ld, int64_t rows, int64_t cols, uint16_t* dst) {
  if (ld == cols) {
    f32_to_bf16_array(src, dst, rows * cols);
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
  parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) convert_row(src + r * ld, dst + r * cols, cols);
  });
}

void f32_to_bf16_block(const float* src, int64_t ld_src, int64_t rows, int64_t cols, uint16_t* dst,
                       int64_t ld_dst) {
  for (int64_t r = 0; r < rows; ++r) convert_row(src + r * ld_src, dst + r * ld_dst, cols);
}

}  // namespace kiln::kernels
