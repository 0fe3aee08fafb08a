// Quantized linear layers (core/qgemm.h) against kiln's own f32 GEMM, in one process:
//   GEMM  int8 linear_quant vs gemm::sgemm_packed_b at BERT-base shapes (M = 128 and 1024 rows),
//         in Gop/s (2 M N K / s) and as a fraction of the VNNI peak measured here with a tight
//         vpdpbusd loop on the same thread count (an op = one multiply or one add, as for FLOPs).
//   GEMV  one row (a decoder step) at BART-base shapes for f32 / int8 / q4_0 / q4_1, in ms per
//         call. Cold: each call uses the next of C copies of the weight, C chosen so that the f32
//         copies span 560 MB (the size of BART-base in f32, more than this VM's L3), i.e. the
//         figure a model of that size in each format sees; hot: the same copy every call.
// Timings interleave the variants (A B C A B C ...) so load from other processes hits all alike;
// best and median are printed, and for the GEMMs the throughput per CPU-second (process CPU
// time, which excludes the time a call spent descheduled on shared cores). Usage: bench_qgemm_bench
// [--threads N] [--min-time S]
//   [--skip-gemm] [--skip-gemv]
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/cpu_features.h"
#include "core/gemm.h"
#include "core/qgemm.h"
#include "core/quant_format.h"
#include "core/thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;
using kiln::quant::Format;

// 24 independent vpdpbusd chains (latency 5, 2 per cycle on ports 0 and 5 where available).
__attribute__((target("avx512f,avx512vnni"))) int64_t vnni_loop(int64_t iters) {
  __m512i acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x01ff01ff);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  __m512i s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_epi32(s, acc[i]);
  int32_t lanes[16];
  _mm512_storeu_si512(lanes, s);
  int64_t sum = 0;
  for (int32_t v : lanes) sum += v;
  return sum;
}

// Peak Gop/s of vpdpbusd with `threads` threads (each runs the loop, all started together), best
// of 300 short runs so that a quiet moment is caught on shared cores. 0 without VNNI.
double measure_vnni_peak(int threads) {
  if (!kiln::cpu_features().avx512_vnni) return 0.0;
  const int64_t iters = 100'000;
  const double ops_per_iter = 24.0 * 16 * 4 * 2;
  double best = 0;
  std::atomic<int64_t> sink{0};
  for (int rep = 0; rep < 300; ++rep) {
    std::atomic<int> started{0};
    const auto t0 = Clock::now();
    kiln::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        started.fetch_add(1);
        while (started.load() < threads) {
        }
        sink.fetch_add(vnni_loop(iters));
      }
    });
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, threads * iters * ops_per_iter / dt / 1e9);
  }
  return best;
}

struct Timing {
  double best_s = 1e30, median_s = 0;
  double cpu_median_s = 0;  // process CPU time (all threads) per call, median
};

// CPU time of the whole process: on cores shared with other work, a call's wall time includes
// the time it was descheduled, its CPU time does not.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs fns interleaved until each has >= 10 samples and min_time has passed; best and median.
std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& fns,
                                     double min_time) {
  for (int i = 0; i < 2; ++i) {
    for (const auto& f : fns) f();
  }
  std::vector<std::vector<double>> ts(fns.size()), cpu(fns.size());
  const auto start = Clock::now();
  while (ts[0].size() < 10 ||
         (std::chrono::duration<double>(Clock::now() - start).count() < min_time &&
          ts[0].size() < 5000)) {
    for (size_t i = 0; i < fns.size(); ++i) {
      const double c0 = cpu_seconds();
      const auto t0 = Clock::now();
      fns[i]();
      ts[i].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      cpu[i].push_back(cpu_seconds() - c0);
    }
  }
  std::vector<Timing> out;
  for (size_t i = 0; i < fns.size(); ++i) {
    std::sort(ts[i].begin(), ts[i].end());
    std::sort(cpu[i].begin(), cpu[i].end());
    out.push_back({ts[i].front(), ts[i][ts[i].size() / 2], cpu[i][cpu[i].size() / 2]});
  }
  return out;
}

std::vector<float> random_vec(size_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> quantize(Format f, const std::vector<float>& w, int64_t n, int64_t k) {
  std::vector<uint8_t> q(n * kiln::quant::row_bytes(f, k));
  kiln::quant::quantize_rows(f, w.data(), n, k, k, q.data());
  return q;
}

void bench_gemm(int threads, double min_time, double peak) {
  const int64_t shapes[][3] = {{128, 768, 768},  {128, 3072, 768},  {128, 768, 3072},
                               {1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}};
  std::mt19937 rng(42);
  std::printf("\n## int8 GEMM vs kiln f32 (sgemm_packed_b), %d threads; Gop/s = 2MNK/s\n", threads);
  std::printf(
      "| M | N | K | f32 Gop/s | int8 Gop/s | int8/f32 | int8/VNNI peak | f32 ms | int8 ms "
      "| f32 Gop/CPU-s | int8 Gop/CPU-s |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    const auto x = random_vec(m * k, 1.0f, rng);
    const auto w = random_vec(n * k, 0.05f, rng);
    std::vector<float> y(m * n);
    const kiln::gemm::PackedB pf(true, k, n, w.data(), k);
    const auto q = quantize(Format::Int8, w, n, k);
    const kiln::quant::PackedQuantB pq(Format::Int8, n, k, q.data());
    const auto t = time_interleaved(
        {[&] { kiln::gemm::sgemm_packed_b(false, m, 1.0f, x.data(), k, pf, 0.0f, y.data(), n); },
         [&] { kiln::quant::linear_quant(m, x.data(), k, pq, y.data(), n); }},
        min_time);
    const double ops = 2.0 * m * n * k;
    const double gf = ops / t[0].median_s / 1e9, gi = ops / t[1].median_s / 1e9;
    std::printf("| %ld | %ld | %ld | %.0f | %.0f | %.2f | %.2f | %.3f | %.3f | %.0f | %.0f |\n",
                (long)m, (long)n, (long)k, gf, gi, gi / gf, peak > 0 ? gi / peak : 0.0,
                t[0].median_s * 1e3, t[1].median_s * 1e3, ops / t[0].cpu_median_s / 1e9,
                ops / t[1].cpu_median_s / 1e9);
    std::printf("RESULT gemm %ld %ld %ld f32_best_gops=%.1f int8_best_gops=%.1f\n", (long)m,
                (long)n, (long)k, ops / t[0].best_s / 1e9, ops / t[1].best_s / 1e9);
    std::fflush(stdout);
  }
}

void bench_gemv(double min_time) {
  const int64_t shapes[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {50265, 768}};
  const double model_bytes = 560e6;
  std::mt19937 rng(7);
  std::printf("\n## one-row GEMV (decoder step), ms per call, median (best)\n");
  std::printf(
      "| N | K | copies | f32 cold | int8 cold | q4_0 cold | q4_1 cold | f32 hot | "
      "int8 hot | q4_0 hot | q4_1 hot |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& s : shapes) {
    const int64_t n = s[0], k = s[1];
    const auto w = random_vec(n * k, 0.05f, rng);
    const auto x = random_vec(k, 1.0f, rng);
    std::vector<float> y(n);
    const int64_t copies =
        std::max<int64_t>(1, static_cast<int64_t>(model_bytes / (4.0 * n * k) + 0.5));
    std::vector<std::unique_ptr<kiln::gemm::PackedB>> pf;
    for (int64_t c = 0; c < copies; ++c)
      pf.push_back(std::make_unique<kiln::gemm::PackedB>(true, k, n, w.data(), k));
    std::vector<std::vector<std::unique_ptr<kiln::quant::PackedQuantB>>> pq(3);
    const Format formats[] = {Format::Int8, Format::Q4_0, Format::Q4_1};
    for (int f = 0; f < 3; ++f) {
      const auto q = quantize(formats[f], w, n, k);
      for (int64_t c = 0; c < copies; ++c)
        pq[f].push_back(std::make_unique<kiln::quant::PackedQuantB>(formats[f], n, k, q.data()));
    }
    // Cold: one pass over all copies, timed as a whole and divided by the copies.
    std::vector<std::function<void()>> fns;
    fns.push_back([&] {
      for (auto& p : pf)
        kiln::gemm::sgemm_packed_b(false, 1, 1.0f, x.data(), k, *p, 0.0f, y.data(), n);
    });
    for (int f = 0; f < 3; ++f) {
      fns.push_back([&, f] {
        for (auto& p : pq[f]) kiln::quant::linear_quant(1, x.data(), k, *p, y.data(), n);
      });
    }
    const auto cold = time_interleaved(fns, min_time);
    std::vector<std::function<void()>> hot_fns;
    hot_fns.push_back([&] {
      kiln::gemm::sgemm_packed_b(false, 1, 1.0f, x.data(), k, *pf[0], 0.0f, y.data(), n);
    });
    for (int f = 0; f < 3; ++f) {
      hot_fns.push_back(
          [&, f] { kiln::quant::linear_quant(1, x.data(), k, *pq[f][0], y.data(), n); });
    }
    const auto hot = time_interleaved(hot_fns, min_time / 2);
    std::printf("| %ld | %ld | %ld |", (long)n, (long)k, (long)copies);
    for (const auto& t : cold)
      std::printf(" %.4f (%.4f) |", t.median_s * 1e3 / copies, t.best_s * 1e3 / copies);
    for (const auto& t : hot) std::printf(" %.4f (%.4f) |", t.median_s * 1e3, t.best_s * 1e3);
    std::printf("\n");
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = kiln::num_threads();
  double min_time = 1.0;
  bool gemm = true, gemv = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc) {
      min_time = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--skip-gemm")) {
      gemm = false;
    } else if (!std::strcmp(argv[i], "--skip-gemv")) {
      gemv = false;
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--min-time S] [--skip-gemm] [--skip-gemv]\n",
                   argv[0]);
      return 2;
    }
  }
  kiln::set_num_threads(threads);
  std::printf("# threads=%d isa=%s sgemm=%s int8=%s q4=%s\n", threads,
              kiln::isa_name(kiln::active_isa()), kiln::gemm::sgemm_backend(),
              kiln::quant::qgemm_backend(Format::Int8), kiln::quant::qgemm_backend(Format::Q4_0));
  const double peak = measure_vnni_peak(threads);
  std::printf("PEAK vnni threads=%d gops=%.1f\n", threads, peak);
  if (gemm) bench_gemm(threads, min_time, peak);
  if (gemv) bench_gemv(min_time);
  std::printf("\npeak RSS %.0f MB\n", kiln::bench::peak_rss_mb());
  return 0;
}
