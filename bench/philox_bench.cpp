// Dropout's random source, three ways in one process on one thread: philox4x32 one block per call
// (the reference, what dropout used before), and the run kernel's plain and AVX-512 paths
// (core/kernels/philox_blocks.h) in runs of 64 blocks, as for_each_dropout_keep calls it.
// Usage: bench_philox_bench [--blocks N] [--reps R]
// Prints: philox blocks=N one_at_a_time_ms= plain_ms= avx512_ms= (best of R) and the ratio
// one_at_a_time / avx512. The XOR of all words is printed so no path can be optimised away.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/philox_blocks.h"
#include "core/rng.h"

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_ms(int reps, F&& f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t blocks = 10'000'000;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc || (a != "--blocks" && a != "--reps")) {
      std::fprintf(stderr, "usage: bench_philox_bench [--blocks N] [--reps R]\n");
      return 2;
    }
    const long v = std::atol(argv[++i]);
    if (v < 1) {
      std::fprintf(stderr, "%s must be positive\n", a.c_str());
      return 2;
    }
    if (a == "--blocks") {
      blocks = v;
    } else {
      reps = static_cast<int>(v);
    }
  }
  constexpr int64_t kRun = 64;
  std::vector<uint32_t> words(4 * kRun);
  uint32_t x = 0;
  const double one = best_ms(reps, [&] {
    for (int64_t b = 0; b < blocks; ++b) x ^= kiln::philox4x32(7, 0, b)[b & 3];
  });
  auto runs = [&](void (*fn)(uint64_t, uint64_t, uint64_t, int64_t, uint32_t*)) {
    return best_ms(reps, [&] {
      for (int64_t b = 0; b < blocks; b += kRun) {
        fn(7, 0, b, std::min(kRun, blocks - b), words.data());
        x ^= words[5];
      }
    });
  };
  const double plain = runs(kiln::kernels::philox4x32_blocks_plain);
  const bool avx512 = kiln::hardware_isa() == kiln::IsaLevel::kAvx512;
  const double vec = avx512 ? runs(kiln::kernels::philox4x32_blocks_avx512) : 0.0;
  std::printf(
      "philox blocks=%ld one_at_a_time_ms=%.1f plain_ms=%.1f avx512_ms=%.1f ratio=%.2f (%u)\n",
      static_cast<long>(blocks), one, plain, vec, avx512 ? one / vec : 0.0, x);
  return 0;
}
