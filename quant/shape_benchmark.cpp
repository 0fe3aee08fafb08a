#include "quant/shape_benchmark.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/error.h"
#include "core/gemm.h"
#include "core/qgemm.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace kiln::quant {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds per call of `fn`, run `calls` times back to back.
template <class Fn>
double ms_per_call(const Fn& fn, int64_t calls) {
  const auto a = Clock::now();
  for (int64_t i = 0; i < calls; ++i) fn();
  const auto b = Clock::now();
  return std::chrono::duration<double, std::milli>(b - a).count() / static_cast<double>(calls);
}

// How many back-to-back calls of `fn` last about `target_ms` (at least 1), from one timed call
// (which also warms caches and packs).
template <class Fn>
int64_t calls_for(const Fn& fn, double target_ms) {
  const double one = std::max(ms_per_call(fn, 1), 1e-4);
  return std::clamp<int64_t>(static_cast<int64_t>(target_ms / one) + 1, 1, 1 << 20);
}

}  // namespace

double median(std::vector<double> v) {
  KILN_CHECK(!v.empty(), "median of no samples");
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double ms_per_call_lasting(const std::function<void()>& fn, double target_ms) {
  return ms_per_call(fn, calls_for(fn, target_ms));
}

ShapeTiming time_shape(int64_t rows, int64_t n, int64_t k, Format format,
                       const ShapeTimingOptions& options) {
  KILN_CHECK(rows > 0 && n > 0 && k > 0, "time_shape: empty shape ", rows, "x", n, "x", k);
  Generator gen(1234);
  const Tensor w = Tensor::randn({n, k}, gen), x = Tensor::randn({rows, k}, gen);
  const gemm::PackedB packed(true, k, n, w.data<float>(), k);
  std::vector<uint8_t> q(static_cast<size_t>(n) * row_bytes(format, k));
  quantize_rows(format, w.data<float>(), n, k, k, q.data());
  const PackedQuantB qpacked(format, n, k, q.data());
  std::vector<float> y(static_cast<size_t>(rows * n));
  const auto run_float = [&] {
    gemm::sgemm_packed_b(false, rows, 1.0f, x.data<float>(), k, packed, 0.0f, y.data(), n);
  };
  const auto run_quant = [&] { linear_quant(rows, x.data<float>(), k, qpacked, y.data(), n); };
  const int64_t float_calls = calls_for(run_float, options.min_sample_ms);
  const int64_t quant_calls = calls_for(run_quant, options.min_sample_ms);
  const int samples = std::max(options.samples, 1);
  std::vector<double> f, qt;
  for (int s = 0; s < samples; ++s) {
    if (s % 2 == 0) {
      f.push_back(ms_per_call(run_float, float_calls));
      qt.push_back(ms_per_call(run_quant, quant_calls));
    } else {
      qt.push_back(ms_per_call(run_quant, quant_calls));
      f.push_back(ms_per_call(run_float, float_calls));
    }
  }
  return {median(f), median(qt)};
}

}  // namespace kiln::quant
