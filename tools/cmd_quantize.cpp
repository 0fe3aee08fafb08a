// kiln quantize -m MODEL -o OUT [--scheme int8|q4_0|q4_1|bf16|auto] [--skip NAMES]
//               [--calibration FILE --max-drop X [--auto-formats int8] [--generation-num-beams N
//               ...]]
//               [--gptq --calibration FILE [--gptq-damp 0.01]]   (q4_0 / q4_1)
//               [--never-slower | --no-speed-check]
//               [--compress zstd]
// Writes a copy of a float model whose eligible weights (quant/eligibility.h: 2-D Linear weights,
// the word embedding, convolutions but the first) are stored quantized, with every decision in the
// file's kiln.quantization metadata and printed as a table. auto measures each tensor's sensitivity
// on calibration data with the task's metric (the kiln eval loop) and keeps the metric within
// --max-drop points of the float model (quant/sensitivity.h). --gptq runs the float model once
// on the calibration data, collects each Linear's X^T X and rounds its q4 weight with GPTQ
// (quant/gptq.h). Then, unless --no-speed-check, each
// distinct Linear shape chosen as int8 (with --never-slower also q4) is timed here as float and
// quantized GEMMs and the clearly faster kept (quant/speed_check.h); the convolutions are judged
// by timing the whole model's forward with each kernel-size group quantized or in float
// (quant/conv_speed_check.h, --bench-images per forward). --compress zstd stores every
// tensor zstd-compressed (nn/tensor_compression.h).
#include <algorithm>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>

#include "core/autograd.h"
#include "core/qgemm.h"
#include "nn/generation_config.h"
#include "nn/image_layers.h"
#include "nn/layers.h"
#include "nn/model_file.h"
#include "nn/tensor_compression.h"
#include "quant/conv_speed_check.h"
#include "quant/decisions.h"
#include "quant/eligibility.h"
#include "quant/gptq.h"
#include "quant/measure_decisions.h"
#include "quant/sensitivity.h"
#include "quant/shape_benchmark.h"
#include "quant/speed_check.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/generation_flags.h"
#include "tools/model_loading.h"
#include "tools/threads.h"
#include "train/evaluate.h"
#include "train/task.h"

namespace kiln::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string mb(double bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << bytes / 1e6 << " MB";
  return os.str();
}

// The metric auto budgets, in points (higher is better): fractions (accuracy, F1) x100; ROUGE is
// already x100; the loss counts negated (x100), so that its increase is the drop. The loss is the
// finer measure on a small calibration set, where accuracy moves in steps of whole examples.
double metric_points(const nlohmann::json& metrics, const std::string& name) {
  const auto it = metrics.find(name);
  KILN_CHECK(it != metrics.end() && it->is_number(), "--metric: the evaluation reports no '", name,
             "'");
  const double v = it->get<double>();
  if (name == "loss") return -100.0 * v;
  return name.rfind("rouge", 0) == 0 ? v : 100.0 * v;
}

// Milliseconds of one eval forward of `model` on `inputs`, packed as the quantized file will run
// it (quant::ms_per_call_lasting: a warm-up forward, then forwards lasting about 50 ms).
double forward_ms(nn::Model& model, const nn::NamedTensors& inputs) {
  model.unpack_weights();
  model.pack_for_inference();
  NoGradGuard no_grad;
  const double ms = quant::ms_per_call_lasting([&] { model.forward(inputs); }, 50.0);
  model.unpack_weights();
  return ms;
}

// X^T X of the rows each weight decided for q4 multiplies (a Linear's inputs, a convolution's
// receptive fields) while `run_calibration` runs the float model on the calibration data, by
// tensor name.
std::map<std::string, quant::InputGram> collect_input_grams(
    nn::Model& model, const std::vector<quant::TensorDecision>& decisions,
    const std::function<void()>& run_calibration) {
  std::set<std::string> wanted;
  for (const auto& d : decisions)
    if ((d.kind == "linear" || d.kind == "conv") && (d.format == "q4_0" || d.format == "q4_1"))
      wanted.insert(d.name);
  std::map<const nn::Module*, std::string> names;
  for (auto& [path, module] : model.named_modules()) {
    const std::string name = path.empty() ? "weight" : path + ".weight";
    if (wanted.count(name) && (dynamic_cast<const nn::Linear*>(module) != nullptr ||
                               dynamic_cast<const nn::Conv2d*>(module) != nullptr))
      names[module] = name;
  }
  std::map<std::string, quant::InputGram> grams;
  {
    nn::ScopedWeightInputHook hook([&](const nn::Module& layer, const Tensor& x) {
      const auto it = names.find(&layer);
      if (it == names.end() || x.dim() < 1) return;
      const int64_t k = x.size(x.dim() - 1);
      const Tensor xf = contiguous(x.to(DType::F32));
      auto g = grams.try_emplace(it->second, k).first;
      g->second.add(xf.data<float>(), xf.numel() / std::max<int64_t>(1, k), k);
    });
    run_calibration();
  }
  return grams;
}

int run_quantize(const std::vector<std::string>& args) {
  ArgParser p("quantize", "-m MODEL -o OUT [options]");
  p.option("model", "float kiln model file", "-m")
      .option("output", "where to write the quantized model file (replaced atomically)", "-o")
      .option("scheme", "int8, q4_0, q4_1, bf16 or auto (per tensor, within --max-drop)", "",
              "int8")
      .option("skip", "comma list of tensor-name substrings or globs (* ? [..]) kept in float")
      .flag("include-head", "also quantize the classifier head (kept in float by default)")
      .option("calibration",
              "auto: labelled task data (the format kiln eval takes) to measure sensitivity on; "
              "--gptq: the data whose layer inputs weigh the rounding")
      .option("max-drop", "auto: the largest drop of the task metric allowed, in points")
      .option("auto-formats",
              "auto: the formats it may choose per tensor, a comma list of q4_0, q4_1 and int8 "
              "(int8 alone: int8 with the most sensitive tensors kept in float)",
              "", "q4_0,q4_1,int8")
      .option("task", "auto, --gptq: the calibration data's task (default: the model's head)")
      .option(
          "metric",
          "auto: the metric to budget (default: the task's first, e.g. accuracy; loss counts as "
          "its increase x100)")
      .option("batch-size", "auto, --gptq: examples per forward pass", "", "16")
      .flag("gptq",
            "q4_0 / q4_1: round each Linear and convolution weight with GPTQ (error "
            "compensation weighed by the layer's inputs on --calibration data) instead of to "
            "nearest")
      .option("gptq-damp", "--gptq: damping, a fraction of the mean diagonal of X^T X", "", "0.01")
      .flag("never-slower",
            "apply the speed check to q4_0 / q4_1 too (by default it checks int8 only: 4-bit is "
            "chosen for size)")
      .flag("no-speed-check",
            "keep every int8 decision without timing it (by default each Linear shape, and the "
            "model's forward with its convolutions quantized or in float, is timed here and the "
            "faster kept): files reproducible across machines")
      .option("bench-rows", "speed check: rows of the timed GEMMs (tokens per batch)", "", "128")
      .option("bench-images",
              "speed check of convolutions: images per timed forward of the whole model", "", "8")
      .option("compress", "none or zstd: store tensors compressed (decompressed on load)", "",
              "none")
      .option("zstd-level", "--compress zstd: level 1-19", "", "9")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  // auto: the tasks' own data flags for the calibration file (--image-field, --image-dir, ...),
  // under kiln eval's names.
  std::map<std::string, std::string> task_flag_owner;
  for (const auto& t : train::tasks())
    for (const auto& f : t->flags()) {
      if (task_flag_owner.count(f.name)) continue;
      task_flag_owner[f.name] = t->name();
      p.option(f.name, "auto: " + f.help + " (--task " + t->name() + ")");
    }
  // auto on a task that generates (summarization): the calibration's decoding, under kiln eval's
  // names (--generation-num-beams 1 makes each of auto's ~150 evaluations several times cheaper
  // than the model's beam-search default).
  declare_generation_flags(p, "generation-");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  std::vector<std::string> generation_given;  // the --generation-* flags given
  for (const auto& name : generation_flag_names("generation-"))
    if (p.given(name)) generation_given.push_back(name);
  const std::string in = p.get("model"), out = p.get("output");
  const std::string scheme = p.get("scheme");
  if (scheme != "auto" && scheme != "bf16" && !quant::parse_format(scheme))
    throw UsageError("--scheme: unknown scheme '" + scheme + "' (int8, q4_0, q4_1, bf16 or auto)");
  const bool is_auto = scheme == "auto", gptq = p.get_flag("gptq");
  if (gptq && scheme != "q4_0" && scheme != "q4_1")
    throw UsageError("--gptq applies to --scheme q4_0 or q4_1 (got '" + scheme + "')");
  if (gptq && !p.given("calibration"))
    throw UsageError(
        "--gptq needs --calibration FILE (the data whose layer inputs weigh the "
        "rounding)");
  if (p.given("gptq-damp") && !gptq) throw UsageError("--gptq-damp applies to --gptq");
  if (p.given("max-drop") && !p.given("calibration"))
    throw UsageError("--max-drop needs --calibration FILE (the data the drop is measured on)");
  if (is_auto && (!p.given("calibration") || !p.given("max-drop")))
    throw UsageError("--scheme auto needs --calibration FILE and --max-drop X");
  if (!is_auto) {
    for (const char* f : {"max-drop", "metric", "auto-formats"})
      if (p.given(f)) throw UsageError(std::string("--") + f + " applies to --scheme auto");
  }
  const bool calibrates = is_auto || gptq;
  if (!calibrates) {
    for (const char* f : {"calibration", "task"})
      if (p.given(f))
        throw UsageError(std::string("--") + f + " applies to --scheme auto and to --gptq");
    for (const auto& [flag, owner] : task_flag_owner)
      if (p.given(flag)) throw UsageError("--" + flag + " applies to --scheme auto and to --gptq");
  }
  quant::GptqOptions gptq_options;
  if (gptq) {
    gptq_options.damp = p.get_double("gptq-damp");
    if (!(gptq_options.damp >= 0 && gptq_options.damp <= 1))
      throw UsageError("--gptq-damp must be a fraction from 0 to 1");
  }
  double max_drop = 0;
  std::vector<std::string> auto_formats;
  if (is_auto) {
    try {
      auto_formats = quant::parse_auto_formats(p.get("auto-formats"), "--auto-formats");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    max_drop = p.get_double("max-drop");
    if (!(max_drop >= 0)) throw UsageError("--max-drop must be a number of points >= 0");
  }
  const std::string compress = p.get("compress");
  if (compress != "none" && compress != "zstd")
    throw UsageError("--compress: unknown codec '" + compress + "' (none or zstd)");
  const int64_t zstd_level = p.get_int("zstd-level");
  if (zstd_level < 1 || zstd_level > 19) throw UsageError("--zstd-level must be from 1 to 19");
  const int64_t bench_rows = p.get_int("bench-rows");
  if (bench_rows < 1) throw UsageError("--bench-rows must be at least 1");
  const int64_t bench_images = p.get_int("bench-images");
  if (bench_images < 1 || bench_images > 4096)
    throw UsageError("--bench-images must be from 1 to 4096");
  if (p.get_flag("never-slower") && p.get_flag("no-speed-check"))
    throw UsageError("--never-slower and --no-speed-check contradict each other");
  quant::SpeedCheckOptions speed;
  speed.rows = bench_rows;
  speed.scope = p.get_flag("no-speed-check") ? quant::SpeedCheck::Off
                : p.get_flag("never-slower") ? quant::SpeedCheck::All
                                             : quant::SpeedCheck::Int8;
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  apply_threads_flag(p);
  const bool verify = !p.get_flag("no-verify");

  const nn::ModelFile input = nn::read_model_file(in, verify);
  if (const std::string q = nn::first_quantized_tensor(input.quantization); !q.empty())
    throw Error(in + ": '" + q +
                "' is already quantized (kiln.quantization); quantize the float "
                "model");
  // The float model, unpacked: eligibility walks its layers, auto runs it.
  LoadOptions load;
  load.command = "kiln quantize";
  load.pack_for_inference = false;
  load.verify = false;  // read_model_file above checked the data
  // auto checks below whether its task needs a tokenizer (images do not).
  load.need_tokenizer = false;
  LoadedModel m = load_model(in, load);
  const auto candidates = quant::list_candidates(
      *m.model, split_list(p.get_optional("skip").value_or("")), p.get_flag("include-head"));

  nlohmann::json settings = {{"scheme", scheme}, {"source", in}};
  if (p.given("skip")) settings["skip"] = p.get("skip");
  settings["include_head"] = p.get_flag("include-head");
  std::vector<quant::TensorDecision> decisions;
  // The calibration setup and data (auto, --gptq) and auto's measurement outlive their blocks:
  // the speed check below may need one more measurement, GPTQ runs the data once more.
  train::TaskSetup setup;
  std::unique_ptr<train::TaskData> data;
  std::function<double()> auto_measure;
  const train::Task* task = nullptr;
  if (!calibrates && !generation_given.empty())
    throw UsageError("--" + generation_given.front() + " applies to --scheme auto and to --gptq");
  if (calibrates) {
    const std::string task_name = p.get_optional("task").value_or(m.spec.task);
    if (task_name.empty())
      throw UsageError(std::string(is_auto ? "--scheme auto" : "--gptq") + ": " + in +
                       " has no task head; give --task");
    try {
      task = &train::task_by_name(task_name);
    } catch (const Error& e) {
      throw UsageError(std::string("--task: ") + e.what());
    }
    if (task->needs_tokenizer() && !m.tokenizer)
      throw Error(in + ": the model file has no tokenizer, which --task " + task->name() +
                  " needs to read the calibration data");
    setup.tokenizer = m.tokenizer ? &*m.tokenizer : nullptr;
    setup.spec = m.spec;
    setup.labels = m.spec.labels;
    setup.word_splitter = m.word_splitter;
    setup.max_length = m.spec.max_tokens;
    setup.fields = task->default_fields();
    for (const auto& [flag, owner] : task_flag_owner) {
      if (!p.given(flag)) continue;  // the task's own default applies
      const auto mine = task->flags();
      if (std::none_of(mine.begin(), mine.end(), [&](const auto& f) { return f.name == flag; }))
        throw UsageError("--" + flag + " does not apply to --task " + task->name());
      setup.task_options[flag] = p.get(flag);
    }
    setup.model_config = m.config;
    if (task->generates()) {
      setup.generation = apply_generation_flags(
          p, nn::model_generation_config(m.config, m.generation_config, "summarization", m.path),
          m.spec.vocab_size, "generation-");
    } else if (!generation_given.empty()) {
      throw UsageError("--" + generation_given.front() +
                       " applies to tasks that generate (summarization)");
    }
    data = task->read(p.get("calibration"), setup);
    task->encode(*data, setup);
  }
  if (!is_auto) {
    decisions = quant::uniform_decisions(candidates, scheme);
  } else {
    const std::string metric = p.get_optional("metric").value_or(task->selection_metrics().front());
    auto measure = [&, metric] {
      // Each trial swaps weights: pack afresh, so that the trial runs the inference path the
      // quantized file will run (packed GEMMs, DenseNet's channels-last engine; same results as
      // the unpacked forward up to float rounding, and several times faster for DenseNet).
      m.model->unpack_weights();
      m.model->pack_for_inference();
      return metric_points(
          train::evaluate(*m.model, *task, setup, *data, static_cast<size_t>(batch)), metric);
    };
    auto_measure = measure;
    const quant::AutoResult r =
        quant::choose_auto(*m.model, candidates, measure, max_drop, std::cerr, auto_formats);
    decisions = r.decisions;
    settings["calibration"] = {
        {"file", p.get("calibration")},   {"examples", data->size()},
        {"task", task->name()},           {"metric", metric},
        {"max_drop", max_drop},           {"formats", auto_formats},
        {"float_metric", r.float_metric}, {"quantized_metric", r.final_metric},
        {"evaluations", r.evaluations}};
    if (task->generates()) {
      nlohmann::json given = nlohmann::json::object();
      for (const auto& name : generation_given) given[name] = p.get(name);
      settings["calibration"]["generation_flags"] = given;
    }
    std::cerr << "kiln quantize: " << metric << " " << r.float_metric << " float, "
              << r.final_metric << " quantized (budget " << max_drop << " points, " << r.evaluations
              << " evaluations)\n";
  }
  if (speed.scope != quant::SpeedCheck::Off) {
    // One timing per distinct (shape, format) of the Linear weights being quantized.
    const quant::ShapeTimer timer = [](int64_t rows, int64_t n, int64_t k, quant::Format f) {
      return quant::time_shape(rows, n, k, f);
    };
    settings["benchmark"] = quant::apply_speed_check(decisions, speed, timer);
    // Convolutions: the whole model's forward on example inputs, by kernel-size group.
    Generator example_gen(1234);
    const nn::NamedTensors examples =
        nn::family_by_name(m.spec.family, in).example_inputs(m.config, bench_images, example_gen);
    if (!examples.empty()) {
      const quant::ForwardTimer time_forward = [&](const std::vector<quant::TensorDecision>& ds) {
        return quant::measure_decisions(*m.model, ds,
                                        [&] { return forward_ms(*m.model, examples); });
      };
      const nlohmann::json conv = quant::apply_conv_speed_check(decisions, speed, 5, time_forward);
      if (!conv.is_null()) {
        settings["conv_benchmark"] = conv;
        settings["conv_benchmark"]["images"] = bench_images;
      }
    }
    // A tensor back in float changes the model auto measured: measure the file's decisions again,
    // so that the metadata reports the metric of the model written.
    const auto& records = settings["benchmark"];
    const bool reverted = std::any_of(records.begin(), records.end(),
                                      [](const nlohmann::json& b) { return b["kept"] == "f32"; }) ||
                          (settings.contains("conv_benchmark") &&
                           !settings["conv_benchmark"]["kept_float"].get<std::string>().empty());
    if (auto_measure && reverted) {
      auto& cal = settings["calibration"];
      cal["quantized_metric_before_speed_check"] = cal["quantized_metric"];
      cal["quantized_metric"] = quant::measure_decisions(*m.model, decisions, auto_measure);
      cal["evaluations"] = cal["evaluations"].get<int>() + 1;
      std::cerr << "kiln quantize: " << cal["metric"].get<std::string>() << " "
                << cal["quantized_metric"].get<double>()
                << " after the speed check put tensors back in float\n";
      if (cal["float_metric"].get<double>() - cal["quantized_metric"].get<double>() > max_drop)
        std::cerr << "kiln quantize: warning: with those tensors in float the drop exceeds the "
                     "budget on the calibration data; --no-speed-check keeps auto's choice\n";
    }
  }
  settings["speed_check"] = speed.scope == quant::SpeedCheck::Off   ? "off"
                            : speed.scope == quant::SpeedCheck::All ? "all"
                                                                    : "int8";

  quant::TensorQuantizer rounding;
  std::map<std::string, quant::InputGram> grams;
  if (gptq) {
    // Unpacked: the module path, where every Linear and Conv2d forward reaches the hook
    // (DenseNet's packed engine runs its own convolutions).
    grams = collect_input_grams(*m.model, decisions, [&] {
      m.model->unpack_weights();
      train::evaluate(*m.model, *task, setup, *data, static_cast<size_t>(batch));
    });
    settings["gptq"] = {{"calibration", p.get("calibration")},
                        {"examples", data->size()},
                        {"task", task->name()},
                        {"damp", gptq_options.damp},
                        {"tensors", grams.size()}};
    rounding = [&](quant::TensorDecision& d, const Tensor& w, quant::Format f) -> Tensor {
      const auto it = grams.find(d.name);
      if (it == grams.end()) return Tensor();
      const quant::InputGram& gram = it->second;
      d.reason += ", GPTQ on " + std::to_string(gram.rows()) + " calibration rows";
      return quant::quantize_tensor(
          w, f, [&](quant::Format fmt, const float* wf, int64_t n, int64_t k, uint8_t* dst) {
            quant::gptq_quantize_rows(fmt, wf, n, k, k, gram, gptq_options, dst);
          });
    };
  }
  int kept = 0, quantized = 0;
  for (const auto& d : decisions) (d.format == "f32" ? kept : quantized)++;
  nn::ModelFile result = quant::quantized_model_file(input, decisions, settings, rounding);
  result.provenance["quantized_from"] = in;
  const double float_bytes = [&] {
    double b = 0;
    for (const auto& [name, t] : input.tensors)
      b += static_cast<double>(t.numel()) *
           static_cast<double>(is_floating(t.dtype()) ? 4 : dtype_size(t.dtype()));
    return b;
  }();
  const double quant_bytes = static_cast<double>(quant::tensor_bytes(result.tensors));
  double zstd_bytes = 0;
  if (compress == "zstd") {
    std::string meta;
    result.tensors = nn::compress_tensors(result.tensors, static_cast<int>(zstd_level), &meta);
    result.extra_metadata[nn::kCompressionKey] = meta;
    zstd_bytes = static_cast<double>(quant::tensor_bytes(result.tensors));
  }
  nn::write_model_file(out, result);

  std::cout << quant::decision_table(decisions);
  std::cout << "\n"
            << quantized << " tensors quantized, " << kept
            << " kept in float (reasons above); norms, biases and other tensors stay as stored\n";
  std::cout << "tensor data: " << mb(float_bytes) << " as f32 (input file "
            << mb(static_cast<double>(quant::tensor_bytes(input.tensors))) << ") -> "
            << mb(quant_bytes) << " (" << std::fixed << std::setprecision(1)
            << 100.0 * quant_bytes / float_bytes << "% of f32)";
  if (compress == "zstd")
    std::cout << "; with zstd: " << mb(zstd_bytes) << " (" << 100.0 * zstd_bytes / float_bytes
              << "%)";
  std::cout << "\nwrote " << out << " (" << mb(static_cast<double>(std::filesystem::file_size(out)))
            << " with metadata and tokenizer)\n";
  return 0;
}

KILN_COMMAND("quantize",
             "store a model's weights as int8, q4_0, q4_1 or bf16 (per tensor with auto), "
             "optionally zstd-compressed",
             run_quantize);

}  // namespace
}  // namespace kiln::cli
