#include "core/kernels/bf16_convert.h"

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

constexpr int64_t kGrain = 1 << 16;  // elements per task: conversion is memory bound

void convert_serial(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

}  // namespace

void f32_to_bf16_array(const float* src, uint16_t* dst, int64_t n) {
  parallel_for(0, n, kGrain,
               [&](int64_t b, int64_t e) { convert_serial(src + b, dst + b, e - b); });
}

void f32_to_bf16_matrix(const float* src, int64_t ld, int64_t rows, int64_t cols, uint16_t* dst) {
  if (ld == cols) {
    f32_to_bf16_array(src, dst, rows * cols);
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
  parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) convert_serial(src + r * ld, dst + r * cols, cols);
  });
}

}  // namespace kiln::kernels
