// DenseNet inference with quantized convolutions against the same model in f32: one process holds
// the float model and copies whose dense-layer and transition convs (every conv but the stem, as
// `kiln quantize` does by default) are int8, q4_0 and q4_1, all packed for inference (the
// channels-last engine), and times their no-grad forwards interleaved (float, int8, q4_0, q4_1,
// float, ...) so that a busy neighbour slows all of them alike. Seeded random weights and inputs
// (timing does not depend on the values). Reports wall and process CPU time medians per format
// and each format's ratio to float.
//
//   bench_densenet_quant_bench [--preset fmnist|fmnist-small|densenet121] [--batch 64]
//                              [--size 48] [--runs 7] [--threads 2]
// fmnist: growth 12, blocks 6/6/6, 24 initial features, bn_size 4 (bench/fmnist's recipe, 48x48);
// fmnist-small: growth 8, blocks 4/4/4, 16 initial features, the small stem (use --size 28).
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/bench_util.h"
#include "core/autograd.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "quant/decisions.h"

namespace {

using Clock = std::chrono::steady_clock;

double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

std::unique_ptr<kiln::nn::DenseNet> build(const kiln::nn::DenseNetConfig& c, const char* format) {
  auto m = std::make_unique<kiln::nn::DenseNet>(c);
  kiln::Generator init(42);
  m->init_weights(init);
  m->eval();
  if (const auto f = kiln::quant::parse_format(format ? format : "")) {
    bool first = true;
    for (auto& [path, mod] : m->named_modules()) {
      auto* conv = dynamic_cast<kiln::nn::Conv2d*>(mod);
      if (!conv) continue;
      if (first) {  // the stem stays float, as kiln quantize's default
        first = false;
        continue;
      }
      const kiln::Tensor rows = kiln::quant::quantize_tensor(conv->weight, *f);
      conv->set_quantized(std::make_shared<const kiln::quant::PackedQuantB>(
                              *f, conv->weight.size(0), conv->weight.numel() / conv->weight.size(0),
                              static_cast<const uint8_t*>(rows.raw_data())),
                          path + ".weight");
    }
  }
  m->pack_for_inference(/*release_weights=*/false);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "fmnist";
  int64_t batch = 64, size = 48;
  int runs = 7, threads = 2;
  kiln::bench::Flags()
      .option("--preset", &preset)
      .option("--batch", &batch)
      .option("--size", &size)
      .option("--runs", &runs)
      .option("--threads", &threads)
      .parse(argc, argv);
  if ((preset != "fmnist" && preset != "fmnist-small" && preset != "densenet121") || batch < 1 ||
      size < 16 || runs < 1 || threads < 1) {
    std::fprintf(stderr,
                 "need --preset fmnist|fmnist-small|densenet121, --batch >= 1, --size >= 16, "
                 "--runs >= 1, --threads >= 1\n");
    return 2;
  }
  kiln::set_num_threads(threads);
  kiln::nn::DenseNetConfig c;  // densenet121's defaults
  if (preset == "fmnist") {
    c.growth_rate = 12, c.block_config = {6, 6, 6}, c.num_init_features = 24, c.bn_size = 4;
    c.num_classes = 10;
  } else if (preset == "fmnist-small") {
    c.growth_rate = 8, c.block_config = {4, 4, 4}, c.num_init_features = 16, c.bn_size = 4;
    c.num_classes = 10, c.stem = "small";
  }
  const char* formats[] = {"f32", "int8", "q4_0", "q4_1"};
  std::vector<std::unique_ptr<kiln::nn::DenseNet>> models;
  for (const char* f : formats) models.push_back(build(c, f));
  kiln::Generator data(7);
  const kiln::Tensor pixels = kiln::Tensor::randn({batch, 3, size, size}, data);
  kiln::NoGradGuard ng;
  std::vector<std::vector<double>> wall(4), cpu(4);
  for (int r = 0; r < runs + 1; ++r)  // the first round warms up
    for (size_t m = 0; m < models.size(); ++m) {
      const double c0 = cpu_ms();
      const auto t0 = Clock::now();
      const auto out = models[m]->forward({{"pixel_values", pixels}});
      const double w = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (r > 0) wall[m].push_back(w), cpu[m].push_back(cpu_ms() - c0);
    }
  for (size_t m = 0; m < models.size(); ++m) {
    const double wm = kiln::bench::median(wall[m]), cm = kiln::bench::median(cpu[m]);
    std::printf(
        "kiln densenet %s convs=%s batch=%lld size=%lld threads=%d runs=%d median_ms=%.1f "
        "cpu_ms=%.1f float/this wall=%.2fx cpu=%.2fx\n",
        preset.c_str(), formats[m], static_cast<long long>(batch), static_cast<long long>(size),
        threads, runs, wm, cm, kiln::bench::median(wall[0]) / wm, kiln::bench::median(cpu[0]) / cm);
  }
  std::printf("peak_rss_mb=%.0f (all four models)\n", kiln::bench::peak_rss_mb());
  return 0;
}
