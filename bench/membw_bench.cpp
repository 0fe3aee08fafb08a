// The machine's memory read bandwidth, the peak a decoder step is measured against: one step of
// greedy decoding reads every decoder weight and the LM head once, so bytes / bandwidth is its
// floor. Read with kiln's own pool (parallel_for, the thread count the models use) over buffers of
// the working-set sizes asked for, since this VM's L3 (hundreds of MB, shared with other tenants)
// serves part of a working set that is read again and again, as a decoder's weights are.
// Each pass sums every 64-byte line of the buffer with AVX-512 loads (4 independent chains, so
// the loads, not the adds, bound it); the first pass of each size is discarded (page faults), the
// median and best of the rest are printed as
//   PEAK read_bandwidth threads=T mb=S gbps_median=... gbps_best=...
// Usage: bench_membw_bench [--threads N] [--mb "50 88 352"] [--passes 15]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/bench_util.h"
#include "core/thread_pool.h"

namespace {

// Sum of every 32-bit word of [p, p + bytes), bytes a multiple of 256: the result is printed so
// that the loads cannot be dropped.
__attribute__((target("avx512f"))) int64_t read_range(const char* p, int64_t bytes) {
  __m512i a0 = _mm512_set1_epi32(0), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i < bytes; i += 256) {
    a0 = _mm512_add_epi32(a0, _mm512_load_si512(p + i));
    a1 = _mm512_add_epi32(a1, _mm512_load_si512(p + i + 64));
    a2 = _mm512_add_epi32(a2, _mm512_load_si512(p + i + 128));
    a3 = _mm512_add_epi32(a3, _mm512_load_si512(p + i + 192));
  }
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)));
  int64_t sum = 0;
  for (int32_t v : lanes) sum += v;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, passes = 15;
  std::string sizes = "50 88 352";
  kiln::bench::Flags()
      .option("--threads", &threads)
      .option("--mb", &sizes)
      .option("--passes", &passes)
      .parse(argc, argv);
  if (threads < 1 || passes < 2) {
    std::fprintf(stderr, "--threads must be >= 1 and --passes >= 2\n");
    return 2;
  }
  kiln::set_num_threads(threads);
  std::istringstream in(sizes);
  int64_t checksum = 0;
  for (double mb; in >> mb;) {
    if (!(mb > 0 && mb <= 16384)) {
      std::fprintf(stderr, "--mb: sizes must be in (0, 16384], got %g\n", mb);
      return 2;
    }
    // Chunks of 64 KiB, dealt to the pool's threads; each its own 256-byte multiple.
    constexpr int64_t kChunk = 64 << 10;
    const int64_t chunks = std::max<int64_t>(1, static_cast<int64_t>(mb * (1 << 20)) / kChunk);
    const int64_t bytes = chunks * kChunk;
    char* buf = static_cast<char*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
    if (buf == nullptr) {
      std::fprintf(stderr, "cannot allocate %lld bytes\n", static_cast<long long>(bytes));
      return 1;
    }
    std::memset(buf, 1, static_cast<size_t>(bytes));
    std::vector<double> gbps;
    std::vector<int64_t> part(static_cast<size_t>(chunks));
    for (int pass = 0; pass < passes; ++pass) {
      const auto t0 = std::chrono::steady_clock::now();
      kiln::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) part[c] = read_range(buf + c * kChunk, kChunk);
      });
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (int64_t v : part) checksum += v;
      if (pass > 0) gbps.push_back(static_cast<double>(bytes) / s / 1e9);
    }
    std::free(buf);
    std::printf("PEAK read_bandwidth threads=%d mb=%.0f gbps_median=%.1f gbps_best=%.1f\n", threads,
                static_cast<double>(bytes) / (1 << 20), kiln::bench::median(gbps),
                *std::max_element(gbps.begin(), gbps.end()));
  }
  std::fprintf(stderr, "checksum %lld\n", static_cast<long long>(checksum));
  return 0;
}
