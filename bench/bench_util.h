// What the model benchmarks share: peak-RSS readings that can be reset after model set-up,
// deterministic token ids, and the median of the timed runs.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "core/tensor.h"

namespace kiln::bench {

// Peak RSS since the last reset_peak_rss() (VmHWM), in MiB; -1 where /proc is unavailable.
inline double hwm_mb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb / 1024.0;
}

// Resets the kernel's peak-RSS mark to the current RSS (Linux clear_refs "5"), so the peak seen
// afterwards belongs to the measured loop, not to building the model with random weights.
inline void reset_peak_rss() {
  if (FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

// ru_maxrss: since the process started, or since the last reset_peak_rss().
inline double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

// Deterministic token ids in [1000, vocab) (past the special tokens; [4, vocab) for a small test
// vocabulary): the cost does not depend on the ids.
inline Tensor make_ids(int64_t b, int64_t l, int64_t vocab) {
  std::vector<int64_t> v(static_cast<size_t>(b * l));
  const int64_t first = vocab > 2000 ? 1000 : std::min<int64_t>(4, vocab - 1);
  uint64_t s = 12345;
  for (auto& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = first + static_cast<int64_t>((s >> 33) % static_cast<uint64_t>(vocab - first));
  }
  return Tensor::from_ints(v, {b, l});
}

// CPU time of the whole process (every thread) so far, in ms: time a shared host's other
// processes took from it does not count, unlike wall time.
inline double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

inline double median(std::vector<double> ms) {
  if (ms.empty()) return 0.0;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

}  // namespace kiln::bench
