// DenseNet121 speed and memory (torchvision's configuration: growth 32, blocks 6/12/24/16, 1000
// classes), seeded random weights and inputs, one configuration per process so that its peak RSS
// is its own:
//   fwd    --batch x 3 x --size^2 through the eval-mode model, no grad, packed for inference
//   train  the same batch in train mode (batch statistics): forward + cross-entropy + backward +
//          SGD with momentum
// bench/densenet/run.sh runs each beside PyTorch and ONNX Runtime (bench/densenet/*.py).
//
//   bench_densenet_bench --mode fwd|train [--batch 8] [--size 224] [--runs 5] [--warmup 1]
//                        [--threads 2] [--bf16] [--checkpointing] [--op-path]
//   (train: --bf16 is bf16 autocast, which the fused training block follows (its convolutions'
//   products on bf16 operands) / --checkpointing: bottlenecks recomputed in backward / --op-path:
//   the layer-by-layer path)
// Output: one line "kiln mode=... batch=... median_ms=<x> min_ms=<y> peak_rss_mb=<z> ..."
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/bench_util.h"
#include "core/autocast.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/storage.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "train/sgd.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "fwd";
  int64_t batch = 8, size = 224;
  int runs = 5, warmup = 1, threads = 2;
  bool bf16 = false, checkpointing = false, op_path = false;
  kiln::bench::Flags()
      .option("--mode", &mode)
      .option("--batch", &batch)
      .option("--size", &size)
      .option("--runs", &runs)
      .option("--warmup", &warmup)
      .option("--threads", &threads)
      .flag("--bf16", &bf16)
      .flag("--checkpointing", &checkpointing)
      .flag("--op-path", &op_path)
      .parse(argc, argv);
  if (mode != "fwd" && mode != "train") {
    std::fprintf(stderr, "--mode must be fwd or train\n");
    return 2;
  }
  if (batch < 1 || size < 32 || runs < 1 || warmup < 0 || threads < 1) {
    std::fprintf(stderr, "need --batch >= 1, --size >= 32, --runs >= 1, --threads >= 1\n");
    return 2;
  }
  kiln::set_num_threads(threads);
  kiln::nn::DenseNetConfig config;  // the defaults are densenet121's
  config.architecture = "densenet121";
  kiln::nn::DenseNet model(config);
  kiln::Generator init(42);
  model.init_weights(init);
  kiln::Generator data(7);
  const kiln::Tensor pixels = kiln::Tensor::randn({batch, 3, size, size}, data);
  const bool inference = mode == "fwd";
  if (inference) {
    model.eval();
    model.pack_for_inference(/*release_weights=*/false);
  }
  kiln::allocator::release_cached();
  const double setup_peak = kiln::bench::hwm_mb();
  kiln::bench::reset_peak_rss();

  std::vector<double> ms;
  if (inference) {
    kiln::NoGradGuard ng;
    for (int r = 0; r < warmup + runs; ++r) {
      const auto t0 = Clock::now();
      const auto out = model.forward({{"pixel_values", pixels}});
      if (r >= warmup) ms.push_back(ms_since(t0));
    }
  } else {
    model.train();
    model.set_requires_grad(true);
    model.set_gradient_checkpointing(checkpointing);
    model.set_fused_block_training(!op_path);  // --op-path: the layer-by-layer training path
    auto params = model.named_parameters();
    kiln::train::SGD opt(params, {.lr = 0.01, .momentum = 0.9});
    std::vector<int64_t> label_ids(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) label_ids[static_cast<size_t>(i)] = (i * 137) % 1000;
    const kiln::Tensor labels = kiln::Tensor::from_ints(label_ids, {batch});
    for (int r = 0; r < warmup + runs; ++r) {
      const auto t0 = Clock::now();
      opt.zero_grad();
      {
        std::optional<kiln::Bf16AutocastGuard> autocast;  // as the trainer: one scope per update
        if (bf16) autocast.emplace(true);
        const auto out = model.forward({{"pixel_values", pixels}});
        kiln::Tensor loss = kiln::cross_entropy(out.at("logits"), labels);
        loss.backward();
      }
      opt.step();
      if (r >= warmup) ms.push_back(ms_since(t0));
    }
  }
  double mn = ms[0];
  for (double v : ms) mn = std::min(mn, v);
  std::printf(
      "kiln mode=%s batch=%lld size=%lld threads=%d runs=%d median_ms=%.1f min_ms=%.1f "
      "peak_rss_mb=%.0f setup_peak_mb=%.0f bf16=%d checkpointing=%d op_path=%d\n",
      mode.c_str(), static_cast<long long>(batch), static_cast<long long>(size), threads, runs,
      kiln::bench::median(ms), mn, kiln::bench::peak_rss_mb(), setup_peak, bf16 ? 1 : 0,
      checkpointing ? 1 : 0, op_path ? 1 : 0);
  return 0;
}
