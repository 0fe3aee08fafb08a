// GEMM benchmark at BERT-base shapes: kiln::gemm::sgemm vs OpenBLAS called directly, both as a
// fraction of this machine's FMA peak measured in the same process with the same thread count.
// Usage: bench_gemm_bench [--threads N] [--min-time SECONDS] [--trans nn|nt|tn|all]
// Prints one line per shape/layout:  RESULT <layout> <M> <N> <K> kiln=<GF/s> openblas=<GF/s>
// bf16=<GF/s> ... (GF/s from the best repetition; *_med from the median), consumed by
// bench/gemm/run.sh. bf16= is kiln::gemm::bf16gemm on the same data rounded to bf16 (f32 output).
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/fma_peak.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/gemm.h"
#include "core/thread_pool.h"

extern "C" char* openblas_get_corename();

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double best_s = 1e30, median_s = 0;
};

// Times several functions with their repetitions interleaved (f0, f1, f2, f0, f1, ...), so that
// load from other processes on the shared cores hits all of them alike. Best and median per
// function; runs until each has >= 10 samples and min_time has passed.
std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& fns,
                                     double min_time) {
  for (int i = 0; i < 3; ++i) {
    for (const auto& f : fns) f();  // warm caches, packing buffers, thread pool
  }
  std::vector<std::vector<double>> ts(fns.size());
  const auto start = Clock::now();
  while (ts[0].size() < 10 ||
         (std::chrono::duration<double>(Clock::now() - start).count() < min_time &&
          ts[0].size() < 2000)) {
    for (size_t i = 0; i < fns.size(); ++i) {
      const auto t0 = Clock::now();
      fns[i]();
      ts[i].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  std::vector<Timing> out;
  for (auto& v : ts) {
    std::sort(v.begin(), v.end());
    out.push_back({v.front(), v[v.size() / 2]});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = kiln::num_threads();
  double min_time = 1.0;
  bool kiln_only = false;
  std::string trans = "nn";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc)
      min_time = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--kiln-only"))
      kiln_only = true;
    else if (!std::strcmp(argv[i], "--trans") && i + 1 < argc)
      trans = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--min-time S] [--trans nn|nt|tn|all] [--kiln-only]\n",
                   argv[0]);
      return 2;
    }
  }
  kiln::set_num_threads(threads);  // also pins OpenBLAS to the same count
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("# threads=%d isa=%s backend=%s bf16=%s OPENBLAS_CORETYPE=%s openblas_core=%s\n",
              threads, kiln::isa_name(kiln::active_isa()), kiln::gemm::sgemm_backend(),
              kiln::gemm::bf16gemm_backend(), coretype ? coretype : "(unset)",
              openblas_get_corename());
  std::printf("# cpu: %s\n", kiln::cpu_features_string().c_str());
  const double peak = kiln::bench::measure_fma_peak(threads);
  std::printf("PEAK threads=%d gflops=%.1f\n", threads, peak);

  const int64_t shapes[][3] = {{128, 768, 768},   {128, 3072, 768},  {128, 768, 3072},
                               {1024, 768, 3072}, {1024, 3072, 768}, {1024, 768, 768}};
  std::vector<std::string> layouts;
  if (trans == "all")
    layouts = {"nn", "nt", "tn"};
  else
    layouts = {trans};
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (const auto& layout : layouts) {
    const bool ta = layout[0] == 't', tb = layout[1] == 't';
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      std::vector<float> a(m * k), b(k * n), c(m * n);
      for (auto& v : a) v = dist(rng);
      for (auto& v : b) v = dist(rng);
      std::vector<uint16_t> a16(a.size()), b16(b.size());
      for (size_t i = 0; i < a.size(); ++i) a16[i] = kiln::f32_to_bf16(a[i]);
      for (size_t i = 0; i < b.size(); ++i) b16[i] = kiln::f32_to_bf16(b[i]);
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      const double flops = 2.0 * m * n * k;
      // B pre-packed once, as inference does with weights (kiln::nn::Linear::pack_for_inference).
      const kiln::gemm::PackedB packed(tb, k, n, b.data(), ldb);
      std::vector<std::function<void()>> fns = {
          [&] {
            kiln::gemm::sgemm(ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, 0.f, c.data(), n);
          },
          [&] { kiln::gemm::sgemm_packed_b(ta, m, 1.f, a.data(), lda, packed, 0.f, c.data(), n); }};
      // OpenBLAS's own threads spin after each call and steal the core from kiln's second thread
      // on a 2-core machine; --kiln-only leaves them out.
      if (!kiln_only) {
        fns.push_back([&] {
          kiln::gemm::sgemm_openblas(ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, 0.f,
                                     c.data(), n);
        });
        fns.push_back([&] {
          kiln::gemm::bf16gemm(ta, tb, m, n, k, 1.f, a16.data(), lda, b16.data(), ldb, 0.f,
                               c.data(), n);
        });
      }
      const std::vector<Timing> t = time_interleaved(fns, min_time);
      const Timing &tk = t[0], &tp = t[1];
      const Timing to = kiln_only ? Timing{0, 0} : t[2], tb16 = kiln_only ? Timing{0, 0} : t[3];
      auto gf = [&](double s) { return s > 0 ? flops / s / 1e9 : 0.0; };
      std::printf(
          "RESULT %s %lld %lld %lld kiln=%.1f kiln_med=%.1f packed=%.1f packed_med=%.1f "
          "openblas=%.1f openblas_med=%.1f bf16=%.1f bf16_med=%.1f kiln_peak=%.3f "
          "packed_peak=%.3f kiln/openblas=%.3f\n",
          layout.c_str(), (long long)m, (long long)n, (long long)k, gf(tk.best_s), gf(tk.median_s),
          gf(tp.best_s), gf(tp.median_s), gf(to.best_s), gf(to.median_s), gf(tb16.best_s),
          gf(tb16.median_s), peak > 0 ? gf(tk.best_s) / peak : 0.0,
          peak > 0 ? gf(tp.best_s) / peak : 0.0, kiln_only ? 0.0 : to.best_s / tk.best_s);
      std::fflush(stdout);
    }
  }
  return 0;
}
