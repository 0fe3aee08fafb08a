// BERT-base-shaped speed and memory: forward latency at batch x 128 under NoGradGuard, and one
// training step (forward + cross-entropy + backward + clip_grad_norm + AdamW) at 8 x 128, with
// seeded random weights (no checkpoint needed). One configuration per process so that the peak RSS
// printed (getrusage ru_maxrss) belongs to that configuration alone; bench/bert/run.sh runs each
// configuration and the PyTorch / ONNX Runtime peers side by side.
//
//   bench_bert_bench --mode infer|train [--batch 8] [--seq 128] [--runs 10] [--warmup 2]
//                    [--threads 2] [--layers 12] [--verbose]   (verbose: allocator stats per step)
//                    [--bf16] [--checkpointing]   (train: bf16 autocast GEMMs / recomputed layers)
//                    [--model FILE]   (infer: the weights and config of a kiln model file, float or
//                                      quantized by `kiln quantize`, instead of random BERT-base)
// Output: one line "kiln mode=<m> batch=<b> seq=<l> ... median_ms=<x> min_ms=<y> peak_rss_mb=<z>
// setup_peak_mb=<w>": peak_rss_mb is the peak RSS of the warm-up + timed loop (getrusage
// ru_maxrss, which Linux resets together with VmHWM when clear_refs "5" is written after model
// set-up), setup_peak_mb the peak while building the model with random weights; with --model the
// line also gives weights=<formats in the file> file_mb=<its size>. cpu_ms: process CPU time (all
// threads) per warm-up or timed run, a figure that a loaded host inflates less than wall time.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/bench_util.h"
#include "bench/model_file_util.h"
#include "core/autocast.h"
#include "core/autograd.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/storage.h"
#include "core/thread_pool.h"
#include "nn/bert.h"
#include "nn/empty_init.h"
#include "train/optimizer.h"

namespace {

using kiln::bench::hwm_mb;
using kiln::bench::make_ids;
using kiln::bench::peak_rss_mb;
using kiln::bench::reset_peak_rss;
using Clock = std::chrono::steady_clock;

kiln::nn::BertConfig base_config(int64_t layers) {
  nlohmann::json j = {{"model_type", "bert"},
                      {"hidden_size", 768},
                      {"num_hidden_layers", layers},
                      {"num_attention_heads", 12},
                      {"intermediate_size", 3072},
                      {"vocab_size", 30522},
                      {"max_position_embeddings", 512},
                      {"type_vocab_size", 2},
                      {"architectures", {"BertForSequenceClassification"}},
                      {"id2label", {{"0", "a"}, {"1", "b"}}}};
  return kiln::nn::BertConfig::from_json(j, "bert_bench");
}

int run_bench(int argc, char** argv) {
  std::string mode = "infer";
  int64_t batch = 8, seq = 128, layers = 12;
  int runs = 10, warmup = 2, threads = 2;
  bool bf16 = false, checkpointing = false;
  bool verbose = false;
  bool pack = true;
  std::string model_path;
  kiln::bench::Flags()
      .option("--mode", &mode)
      .option("--batch", &batch)
      .option("--seq", &seq)
      .option("--runs", &runs)
      .option("--warmup", &warmup)
      .option("--threads", &threads)
      .flag("--no-pack", &pack, false)
      .flag("--bf16", &bf16)
      .flag("--checkpointing", &checkpointing)
      .flag("--verbose", &verbose)
      .option("--layers", &layers)
      .option("--model", &model_path)
      .parse(argc, argv);
  if (mode != "infer" && mode != "train") {
    std::fprintf(stderr, "--mode must be infer or train\n");
    return 2;
  }
  if (!model_path.empty() && mode != "infer") {
    std::fprintf(stderr, "--model is for --mode infer\n");
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
  const auto cfg =
      file ? kiln::nn::BertConfig::from_json(file->config, model_path) : base_config(layers);
  // From a file: no parameter is allocated before loading, as in kiln classify (nn/empty_init.h).
  kiln::nn::BertModel model = [&] {
    kiln::nn::EmptyInit empty(file.has_value());
    return kiln::nn::BertModel(cfg);
  }();
  if (file) {
    kiln::nn::load_model_file_tensors(model, *file, model_path);
    file.reset();
  } else {
    kiln::Generator init_gen(42);
    model.init_weights(init_gen);
  }
  const kiln::Tensor ids = make_ids(batch, seq, cfg.vocab_size);
  const kiln::Tensor mask = kiln::Tensor::ones({batch, seq}, kiln::DType::I64);

  // Random initialisation leaves f64 temporaries in the allocator cache; a model loaded from a
  // checkpoint would not have them. Their peak is reported apart (setup_peak_mb); peak_rss_mb
  // covers the measured loop only.
  // Inference packs the weights for the GEMM once, as kiln tag/classify do (part of set-up).
  if (mode == "infer" && pack) model.pack_for_inference(/*release_weights=*/true);
  kiln::allocator::release_cached();
  const double setup_peak = hwm_mb();
  reset_peak_rss();
  std::vector<double> ms;
  const double cpu0 = kiln::bench::process_cpu_ms();
  if (mode == "infer") {
    model.eval();
    kiln::NoGradGuard ng;
    for (int r = 0; r < warmup + runs; ++r) {
      const auto t0 = Clock::now();
      auto out = model.forward(ids, mask);
      const double dt = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (r >= warmup) ms.push_back(dt);
    }
  } else {
    model.train();
    model.set_requires_grad(true);
    kiln::Generator drop_gen(7);
    model.set_dropout_generator(&drop_gen);
    model.set_gradient_checkpointing(checkpointing);
    auto params = model.named_parameters();
    kiln::train::AdamW opt(params, {.lr = 2e-5});
    std::vector<int64_t> lab(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) lab[i] = i % 2;
    const kiln::Tensor labels = kiln::Tensor::from_ints(lab, {batch});
    for (int r = 0; r < warmup + runs; ++r) {
      const auto t0 = Clock::now();
      opt.zero_grad();
      {
        std::optional<kiln::Bf16AutocastGuard> autocast;  // as the trainer: one scope per update
        if (bf16) autocast.emplace(true);
        auto out = model.forward(ids, mask);
        kiln::Tensor loss = kiln::cross_entropy(out.logits, labels);
        loss.backward();
      }
      kiln::train::clip_grad_norm(params, 1.0);
      opt.step();
      const double dt = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (r >= warmup) ms.push_back(dt);
      if (verbose) {
        const auto st = kiln::allocator::stats();
        std::fprintf(stderr,
                     "step %d: %.1f ms, in use %.0f MB, cached %.0f MB, peak %.0f MB, system "
                     "allocations %zu\n",
                     r, dt, st.bytes_in_use / 1048576.0, st.bytes_cached / 1048576.0,
                     st.peak_bytes_in_use / 1048576.0, st.allocations);
      }
    }
  }
  const double cpu_ms = (kiln::bench::process_cpu_ms() - cpu0) / std::max(1, warmup + runs);
  const double median = kiln::bench::median(ms);
  std::sort(ms.begin(), ms.end());
  std::printf(
      "kiln mode=%s batch=%lld seq=%lld threads=%d runs=%d median_ms=%.2f min_ms=%.2f "
      "peak_rss_mb=%.0f setup_peak_mb=%.0f gemm=%s packed=%d precision=%s checkpointing=%d "
      "weights=%s file_mb=%.1f cpu_ms=%.2f\n",
      mode.c_str(), static_cast<long long>(batch), static_cast<long long>(seq), threads, runs,
      median, ms.empty() ? 0.0 : ms.front(), peak_rss_mb(), setup_peak, kiln::gemm::sgemm_backend(),
      mode == "infer" && pack ? 1 : 0, bf16 ? kiln::gemm::bf16gemm_backend() : "f32",
      checkpointing ? 1 : 0, weights.c_str(), file_mb, cpu_ms);
  return 0;
}

}  // namespace

// A model file that does not load (missing, corrupt, not BERT) is a message and exit status 1.
int main(int argc, char** argv) {
  try {
    return run_bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bert_bench: %s\n", e.what());
    return 1;
  }
}
