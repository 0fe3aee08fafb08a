#include "quant/shape_benchmark.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/gemm.h"
#include "core/qgemm.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace kiln::quant {

ShapeTiming time_shape(int64_t rows, int64_t n, int64_t k, Format format, int repetitions) {
  Generator gen(1234);
  const Tensor w = Tensor::randn({n, k}, gen), x = Tensor::randn({rows, k}, gen);
  const gemm::PackedB packed(true, k, n, w.data<float>(), k);
  std::vector<uint8_t> q(static_cast<size_t>(n) * row_bytes(format, k));
  quantize_rows(format, w.data<float>(), n, k, k, q.data());
  const PackedQuantB qpacked(format, n, k, q.data());
  std::vector<float> y(static_cast<size_t>(rows * n));
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  ShapeTiming t{1e300, 1e300};
  for (int r = 0; r < std::max(repetitions, 1) + 1; ++r) {  // the first round warms up
    auto a = clock::now();
    gemm::sgemm_packed_b(false, rows, 1.0f, x.data<float>(), k, packed, 0.0f, y.data(), n);
    auto b = clock::now();
    linear_quant(rows, x.data<float>(), k, qpacked, y.data(), n);
    auto c = clock::now();
    if (r == 0) continue;
    t.float_ms = std::min(t.float_ms, ms(a, b));
    t.quant_ms = std::min(t.quant_ms, ms(b, c));
  }
  return t;
}

}  // namespace kiln::quant
