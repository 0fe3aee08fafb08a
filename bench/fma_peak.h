// The machine's f32 FMA peak, measured in the benchmark's own process (bench_gemm_bench,
// bench_winograd_bench): kernels are reported as a fraction of it.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace kiln::bench {

// FMA throughput: 24 independent accumulators hide FMA latency on both ports; the fmadd chain
// result is consumed so the compiler keeps it.
__attribute__((target("avx512f,fma"))) inline double fma_loop_avx512(int64_t iters) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx2,fma"))) inline double fma_loop_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Peak GFLOP/s with `threads` threads, each running the FMA loop. Short runs, best of 300, so that
// a quiet moment is caught even when other processes share the cores.
inline double measure_fma_peak(int threads) {
  const bool z = kiln::cpu_features().avx512f;
  const bool y = kiln::cpu_features().avx2 && kiln::cpu_features().fma;
  if (!z && !y) return 0.0;
  const int64_t iters = 200'000;  // ~0.7 ms per thread at peak
  const double flops_per_iter = z ? 24.0 * 16 * 2 : 12.0 * 8 * 2;
  double best = 0;
  std::atomic<double> sink{0};
  for (int rep = 0; rep < 300; ++rep) {
    // Each task waits until all `threads` tasks have started, so every pool thread runs exactly
    // one loop concurrently (otherwise the caller could run them back to back).
    std::atomic<int> started{0};
    const auto t0 = std::chrono::steady_clock::now();
    kiln::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        started.fetch_add(1);
        while (started.load() < threads) {
        }
        sink.store(sink.load() + (z ? fma_loop_avx512(iters) : fma_loop_avx2(iters)));
      }
    });
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, threads * iters * flops_per_iter / dt / 1e9);
  }
  return best;
}

}  // namespace kiln::bench
