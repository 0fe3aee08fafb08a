// Winograd 3x3 convolution kernels (core/kernels/winograd_f2x3.h) on one thread at DenseNet's
// bottleneck shape (128 -> 32 channels) for each block's image size, against this core's FMA
// peak measured in the same process. For kernel tuning; the model figures are bench_densenet_bench.
// Usage: [CHUNK=tiles per call, default 32] bench_winograd_bench [--reps N]
// Prints per variant and size: ms per image (best of the repetitions) and the effective GF/s (the
// direct convolution's 2 * 9 * cin * cout flops per output pixel over the time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench/fma_peak.h"
#include "core/kernels/winograd_f2x3.h"

int main(int argc, char** argv) {
  int reps = 20;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
  using namespace kiln::kernels;
  const int64_t cin = 128, cout = 32;
  const int64_t chunk = std::getenv("CHUNK") ? std::atoi(std::getenv("CHUNK")) : 32;
  const double peak = kiln::bench::measure_fma_peak(1);
  std::printf("fma_peak_1core=%.1f GF/s\n", peak);
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  std::vector<float> weight(static_cast<size_t>(cout * cin * 9));
  for (float& v : weight) v = normal(gen) * 0.1f;
  for (int m : {2, 4}) {
    const std::vector<float> u = m == 2 ? winograd_f2x3_weights(weight.data(), cout, cin)
                                        : winograd_f4x3_weights(weight.data(), cout, cin);
    for (int64_t size : {56, 28, 14, 7}) {
      const int64_t t = (size + m - 1) / m, wp = m * t + 2, tiles = t * t;
      std::vector<float> padded(static_cast<size_t>(wp * wp * cin), 0.0f);
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x)
          for (int64_t c = 0; c < cin; ++c) padded[((y + 1) * wp + x + 1) * cin + c] = normal(gen);
      const int64_t ldo = 256;  // a block buffer row wider than cout
      std::vector<float> out(static_cast<size_t>(size * size * ldo));
      std::vector<float> scratch(
          static_cast<size_t>(m == 2 ? winograd_f2x3_scratch_floats(chunk, cin, cout)
                                     : winograd_f4x3_scratch_floats(chunk, cin, cout)));
      const WinogradImage im{padded.data(), wp, cin, size, size};
      // Enough images per repetition for ~25 ms of work (DenseNet's batch of 8 streams images).
      const int64_t images = std::max<int64_t>(1, 3136 * 8 / (size * size));
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t img = 0; img < images; ++img)
          for (int64_t t0i = 0; t0i < tiles; t0i += chunk) {
            const int64_t count = std::min(chunk, tiles - t0i);
            (m == 2 ? winograd_f2x3_tiles : winograd_f4x3_tiles)(
                im, u.data(), cout, t0i, count, out.data() + 128, ldo, scratch.data());
          }
        best = std::min(
            best,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / images);
      }
      const double flops = 2.0 * 9 * cin * cout * size * size;
      std::printf("F(%dx%d,3x3) %2ldx%-2ld ms/image=%.4f effective=%.1f GF/s (%.0f%% of peak)\n", m,
                  m, static_cast<long>(size), static_cast<long>(size), best * 1e3,
                  flops / best / 1e9, 100.0 * flops / best / 1e9 / peak);
    }
  }
}
