// SHA-256 throughput: sha256_file over a file (the fingerprinting path: checkpoints, data files)
// and Sha256::update over an in-memory buffer (hashing alone, without reads).
// Usage: bench_sha256_bench FILE [--reps R] [--mem-mb M]
// Prints: file_mb_s= (best of R over FILE; run it twice or pre-read FILE so the page cache holds
// it, otherwise this measures the disk) and mem_mb_s= (best of R over M MiB), MB = 1e6 bytes, by
// wall clock and, as *_cpu_mb_s=, by this process's CPU time (steadier on a shared machine).
// The digest is printed so that no hashing can be optimised away.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "core/sha256.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Seconds {
  double wall = 1e300, cpu = 1e300;
};

// Best of `reps` runs, separately by wall clock and by process CPU time.
template <class F>
Seconds best_seconds(int reps, F&& f) {
  Seconds best;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    const std::clock_t c0 = std::clock();
    f();
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    best.wall = std::min(best.wall, std::chrono::duration<double>(Clock::now() - t0).count());
    best.cpu = std::min(best.cpu, cpu);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [--reps R] [--mem-mb M]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  int reps = 3;
  size_t mem_mb = 256;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--reps") {
      reps = std::atoi(argv[i + 1]);
    } else if (a == "--mem-mb") {
      mem_mb = static_cast<size_t>(std::atoll(argv[i + 1]));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }

  std::string file_digest;
  const Seconds file_s = best_seconds(reps, [&] { file_digest = kiln::sha256_file(path); });
  const double file_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;

  std::vector<char> buf(mem_mb << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 2654435761u >> 24);
  std::string mem_digest;
  const Seconds mem_s = best_seconds(reps, [&] {
    kiln::Sha256 h;
    h.update(buf.data(), buf.size());
    mem_digest = h.hex_digest();
  });

  const double buf_mb = static_cast<double>(buf.size()) / 1e6;
  std::printf(
      "sha256 file=%s file_mb_s=%.0f file_cpu_mb_s=%.0f mem_mb_s=%.0f mem_cpu_mb_s=%.0f "
      "digest=%s mem_digest=%s\n",
      path.c_str(), file_mb / file_s.wall, file_mb / file_s.cpu, buf_mb / mem_s.wall,
      buf_mb / mem_s.cpu, file_digest.c_str(), mem_digest.c_str());
  return 0;
}
