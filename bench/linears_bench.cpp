// The linear layers of a BERT-base forward in isolation: 12 layers of Q, K, V, attention output,
// FFN up and FFN down as sgemm_packed_b calls with the model's epilogues (bias; bias + residual;
// bias + exact GELU), every layer with its own packed weights (so, as in a real forward, weights
// come cold from DRAM), on M token rows. It separates GEMM speed from the rest of the model
// (bench_bert_bench times the whole forward) and is how the sgemm_packed_b task split was chosen.
// Usage: bench_linears_bench [--tokens M] [--runs N] [--threads T]
// Prints: linears tokens=M threads=T qkv_ms= o_ms= up_ms= down_ms= total_ms= (each the median of N
// forwards after one warm-up) and the GFLOP/s of the total.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/gemm.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;
using kiln::gemm::Epilogue;
using kiln::gemm::PackedB;

struct Layer {
  std::unique_ptr<PackedB> q, k, v, o, up, down;
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t tokens = 1024;
  int runs = 5, threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value after %s\n", a.c_str());
      return 2;
    }
    const long v = std::atol(argv[++i]);
    if (a == "--tokens") {
      tokens = v;
    } else if (a == "--runs") {
      runs = static_cast<int>(v);
    } else if (a == "--threads") {
      threads = static_cast<int>(v);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (tokens < 1 || runs < 1 || threads < 1) {
    std::fprintf(stderr, "--tokens, --runs and --threads must be positive\n");
    return 2;
  }
  kiln::set_num_threads(threads);
  const int64_t M = tokens, H = 768, F = 3072, L = 12;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(F * H);
  for (auto& x : w) x = normal(rng);
  std::vector<Layer> layers(L);
  for (Layer& l : layers) {
    for (auto& x : w) x += 1e-4f;  // distinct weights per layer
    l.q = std::make_unique<PackedB>(true, H, H, w.data(), H);
    l.k = std::make_unique<PackedB>(true, H, H, w.data() + H * H, H);
    l.v = std::make_unique<PackedB>(true, H, H, w.data() + 2 * H * H, H);
    l.o = std::make_unique<PackedB>(true, H, H, w.data() + 3 * H * H, H);
    l.up = std::make_unique<PackedB>(true, H, F, w.data(), H);
    l.down = std::make_unique<PackedB>(true, F, H, w.data(), F);
  }
  std::vector<float> x(M * H), q(M * H), k(M * H), v(M * H), h(M * H), u(M * F), bias(F, 0.01f);
  for (auto& e : x) e = normal(rng) * 50.0f;
  Epilogue with_bias;
  with_bias.bias = bias.data();
  Epilogue with_residual = with_bias;
  with_residual.ldr = H;
  Epilogue with_gelu = with_bias;
  with_gelu.activation = kiln::kernels::gelu_f32;
  std::vector<double> t_qkv, t_o, t_up, t_down, t_total;
  for (int r = 0; r < runs + 1; ++r) {
    double a = 0, b = 0, c = 0, d = 0;
    // y = x W (+ epilogue), its time added to `acc`.
    auto linear = [&](double& acc, const std::vector<float>& in, int64_t ld_in, const PackedB& w,
                      std::vector<float>& out, int64_t ld_out, const Epilogue& ep) {
      const auto t0 = Clock::now();
      kiln::gemm::sgemm_packed_b(false, M, 1, in.data(), ld_in, w, 0, out.data(), ld_out, ep);
      acc += ms_since(t0);
    };
    for (const Layer& l : layers) {
      linear(a, x, H, *l.q, q, H, with_bias);
      linear(a, x, H, *l.k, k, H, with_bias);
      linear(a, x, H, *l.v, v, H, with_bias);
      with_residual.residual = x.data();
      linear(b, v, H, *l.o, h, H, with_residual);
      linear(c, h, H, *l.up, u, F, with_gelu);
      with_residual.residual = h.data();
      linear(d, u, F, *l.down, x, H, with_residual);
    }
    for (auto& e : x) e = std::clamp(e, -10.0f, 10.0f);  // keep activations bounded across runs
    if (r == 0) continue;                                // warm-up
    t_qkv.push_back(a);
    t_o.push_back(b);
    t_up.push_back(c);
    t_down.push_back(d);
    t_total.push_back(a + b + c + d);
  }
  const double flops = 2.0 * M * L * (4.0 * H * H + 2.0 * H * F);
  const double total = median(t_total);
  std::printf(
      "linears tokens=%ld threads=%d runs=%d qkv_ms=%.1f o_ms=%.1f up_ms=%.1f down_ms=%.1f "
      "total_ms=%.1f gflops=%.0f\n",
      static_cast<long>(M), threads, runs, median(t_qkv), median(t_o), median(t_up), median(t_down),
      total, flops / total * 1e-6);
  return 0;
}
