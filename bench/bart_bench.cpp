// BART-base-shaped speed and memory (6+6 layers, d 768, 12 heads, ffn 3072, vocab 50265), seeded
// random weights, one configuration per process so that its peak RSS is its own:
//   encoder  one 512-token input through the encoder (no grad, packed weights)
//   greedy   512-token input -> exactly --new-tokens tokens (min = max new tokens), greedy search:
//            ms/token = (generation - encoder) / new tokens
//   beam     the same with --beams beams: ms/step = (generation - encoder) / steps
//   train    --batch x 512 source, 128 target: forward + cross-entropy + backward + clip + AdamW
// bench/bart/run.sh runs each mode beside transformers on PyTorch (bench/bart/torch_bart.py).
//
//   bench_bart_bench --mode encoder|greedy|beam|train [--src 512] [--tgt 128] [--new-tokens 60]
//                    [--beams 4] [--batch 8] [--runs 5] [--warmup 1] [--threads 2] [--layers 6]
//                    [--model FILE]   (inference modes: the weights and config of a kiln model
//                                      file, float or quantized by `kiln quantize`)
// Output: one line "kiln mode=... median_ms=<x> per_token_ms=<y> encoder_ms=<e> peak_rss_mb=<z>
// ... weights=<formats in the file, f32 without --model> file_mb=<its size> cpu_per_token_ms=<c>"
// (c: the same difference in process CPU time, all threads, which a loaded host inflates less)
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/bench_util.h"
#include "bench/model_file_util.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/storage.h"
#include "core/thread_pool.h"
#include "nn/bart.h"
#include "nn/empty_init.h"
#include "nn/generation.h"
#include "train/optimizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

nlohmann::json base_config(int64_t layers) {
  return {{"model_type", "bart"},
          {"architectures", {"BartForConditionalGeneration"}},
          {"d_model", 768},
          {"encoder_layers", layers},
          {"decoder_layers", layers},
          {"encoder_attention_heads", 12},
          {"decoder_attention_heads", 12},
          {"encoder_ffn_dim", 3072},
          {"decoder_ffn_dim", 3072},
          {"vocab_size", 50265},
          {"max_position_embeddings", 1024},
          {"activation_function", "gelu"},
          {"pad_token_id", 1},
          {"bos_token_id", 0},
          {"eos_token_id", 2},
          {"decoder_start_token_id", 2},
          {"forced_eos_token_id", 2}};
}

int run_bench(int argc, char** argv) {
  std::string mode = "greedy";
  int64_t src = 512, tgt = 128, new_tokens = 60, beams = 4, batch = 8, layers = 6;
  int runs = 5, warmup = 1, threads = 2;
  std::string model_path;
  kiln::bench::Flags()
      .option("--mode", &mode)
      .option("--src", &src)
      .option("--tgt", &tgt)
      .option("--new-tokens", &new_tokens)
      .option("--beams", &beams)
      .option("--batch", &batch)
      .option("--layers", &layers)
      .option("--runs", &runs)
      .option("--warmup", &warmup)
      .option("--threads", &threads)
      .option("--model", &model_path)
      .parse(argc, argv);
  if (mode != "encoder" && mode != "greedy" && mode != "beam" && mode != "train") {
    std::fprintf(stderr, "--mode must be encoder, greedy, beam or train\n");
    return 2;
  }
  const bool inference = mode != "train";
  if (!model_path.empty() && !inference) {
    std::fprintf(stderr, "--model is for the inference modes\n");
    return 2;
  }
  kiln::set_num_threads(threads);
  std::optional<kiln::nn::ModelFile> file;
  std::string weights = "f32";
  double file_mb = 0;
  if (!model_path.empty()) {
    file = kiln::nn::read_model_file(model_path);
    weights = kiln::bench::weight_formats(*file);
    file_mb = static_cast<double>(std::filesystem::file_size(model_path)) / 1048576.0;
  }
  const auto config = file ? kiln::nn::BartConfig::from_json(file->config, model_path)
                           : kiln::nn::BartConfig::from_json(base_config(layers), "bart_bench");
  // From a file: no parameter is allocated before loading, as in kiln summarize (nn/empty_init.h).
  kiln::nn::BartModel model = [&] {
    kiln::nn::EmptyInit empty(file.has_value());
    return kiln::nn::BartModel(config);
  }();
  if (file) {
    kiln::nn::load_model_file_tensors(model, *file, model_path);
    file.reset();
  } else {
    kiln::Generator init(42);
    model.init_weights(init);
  }
  if (inference) model.pack_for_inference(/*release_weights=*/true);
  kiln::allocator::release_cached();
  const double setup_peak = kiln::bench::hwm_mb();
  kiln::bench::reset_peak_rss();

  const int64_t b = inference ? 1 : batch;
  const kiln::Tensor ids = kiln::bench::make_ids(b, src, config.vocab_size);
  const kiln::Tensor mask = kiln::Tensor::ones({b, src}, kiln::DType::I64);
  std::vector<double> total_ms, encoder_ms, total_cpu_ms, encoder_cpu;  // wall, process CPU
  int64_t steps = 0;
  if (inference) {
    model.eval();
    kiln::NoGradGuard ng;
    kiln::nn::GenerationConfig g;
    g.decoder_start_token_id = 2;
    g.eos_token_ids = {2};
    g.pad_token_id = 1;
    g.forced_eos_token_id = 2;
    g.max_new_tokens = new_tokens;
    g.min_new_tokens = new_tokens;  // the same number of tokens in every run and in torch
    g.num_beams = mode == "beam" ? beams : 1;
    for (int r = 0; r < warmup + runs; ++r) {
      auto t0 = Clock::now();
      double c0 = kiln::bench::process_cpu_ms();
      model.encode(ids, mask);
      const double enc = ms_since(t0), enc_cpu = kiln::bench::process_cpu_ms() - c0;
      double total = enc, total_cpu = enc_cpu;
      if (mode != "encoder") {
        t0 = Clock::now();
        c0 = kiln::bench::process_cpu_ms();
        const auto out =
            kiln::nn::generate(model, {{"input_ids", ids}, {"attention_mask", mask}}, g);
        total = ms_since(t0);
        total_cpu = kiln::bench::process_cpu_ms() - c0;
        steps = static_cast<int64_t>(out[0][0].ids.size()) - 1;
      }
      if (r >= warmup) {
        encoder_ms.push_back(enc);
        total_ms.push_back(total);
        encoder_cpu.push_back(enc_cpu);
        total_cpu_ms.push_back(total_cpu);
      }
    }
  } else {
    model.train();
    model.set_requires_grad(true);
    kiln::Generator drop(7);
    model.set_dropout_generator(&drop);
    auto params = model.named_parameters();
    kiln::train::AdamW opt(params, {.lr = 2e-5});
    const kiln::Tensor labels = kiln::bench::make_ids(b, tgt, config.vocab_size);
    const kiln::Tensor decoder_ids = kiln::nn::shift_tokens_right(labels, 1, 2);
    for (int r = 0; r < warmup + runs; ++r) {
      const auto t0 = Clock::now();
      opt.zero_grad();
      const auto out = model.forward(
          {{"input_ids", ids}, {"attention_mask", mask}, {"decoder_input_ids", decoder_ids}});
      kiln::Tensor loss = kiln::cross_entropy(
          kiln::reshape(out.at("logits"), {-1, config.vocab_size}), kiln::reshape(labels, {-1}));
      loss.backward();
      kiln::train::clip_grad_norm(params, 1.0);
      opt.step();
      if (r >= warmup) total_ms.push_back(ms_since(t0));
    }
  }
  const double median = kiln::bench::median(total_ms), encoder = kiln::bench::median(encoder_ms);
  const double per_step = steps > 0 ? (median - encoder) / static_cast<double>(steps) : 0.0;
  const double cpu_per_step =
      steps > 0 ? (kiln::bench::median(total_cpu_ms) - kiln::bench::median(encoder_cpu)) /
                      static_cast<double>(steps)
                : 0.0;
  std::printf(
      "kiln mode=%s src=%lld tgt=%lld new_tokens=%lld beams=%lld batch=%lld threads=%d runs=%d "
      "median_ms=%.1f encoder_ms=%.1f steps=%lld per_token_ms=%.2f peak_rss_mb=%.0f "
      "setup_peak_mb=%.0f weights=%s file_mb=%.1f cpu_per_token_ms=%.2f\n",
      mode.c_str(), static_cast<long long>(src), static_cast<long long>(tgt),
      static_cast<long long>(new_tokens), static_cast<long long>(mode == "beam" ? beams : 1),
      static_cast<long long>(b), threads, runs, median, encoder, static_cast<long long>(steps),
      per_step, kiln::bench::peak_rss_mb(), setup_peak, weights.c_str(), file_mb, cpu_per_step);
  return 0;
}

}  // namespace

// A model file that does not load (missing, corrupt, not BART) is a message and exit status 1.
int main(int argc, char** argv) {
  try {
    return run_bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bart_bench: %s\n", e.what());
    return 1;
  }
}
