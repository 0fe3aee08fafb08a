// kiln train --task token-classification|sequence-classification --train FILE [--eval FILE]
//            --output RUN_DIR (--model X.kiln | --config config.json --tokenizer PATH) [options]
// kiln train --resume RUN_DIR [--threads N] [--stop-after-epochs N] [--stop-after-steps N]
//            [--logging-steps N] [--no-verify]
// Fine-tunes (or trains from scratch) any registered model family on any registered task: the
// family and the task come from their registries (nn/family.h, train/task.h). All data is read and
// checked before the run directory is created, so bad data never leaves a half-made run behind.
// The run directory layout is described in train/run_dir.h; RUN_DIR/best.kiln works directly with
// `kiln tag` / `kiln classify`. Ctrl-C or SIGTERM finishes the update in progress, writes a
// checkpoint and exits 130 / 143; --resume continues bit-exactly. One process at a time trains a
// run directory (train/run_lock.h); model files and checkpoints are checked against their
// kiln.data_sha256 on load unless --no-verify.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "core/cpu_features.h"
#include "core/gemm.h"
#include "core/io/atomic_file.h"
#include "core/sha256.h"
#include "core/thread_pool.h"
#include "core/version.h"
#include "data/file_hashes.h"
#include "nn/empty_init.h"
#include "nn/family.h"
#include "nn/head_transfer.h"
#include "nn/model_file.h"
#include "tokenizer/word_splitter.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/generation_flags.h"
#include "tools/interrupt.h"
#include "tools/model_loading.h"
#include "tools/threads.h"
#include "train/class_weights.h"
#include "train/confusion_matrix.h"
#include "train/distributed.h"
#include "train/mlflow_live.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/run_lock.h"
#include "train/summarization_source.h"
#include "train/system_stats.h"
#include "train/trainer.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

// Options that a resumed run may change; everything else comes from the manifest so the resumed
// run is the same computation.
const char* const kResumeOverrides[] = {"threads", "stop-after-epochs", "stop-after-steps",
                                        "logging-steps"};

// The flags tasks add (Task::flags()), each once even when several tasks declare it.
std::vector<train::TaskFlag> all_task_flags() {
  std::vector<train::TaskFlag> out;
  for (const auto& t : train::tasks())
    for (const auto& f : t->flags())
      if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o.name == f.name; }))
        out.push_back(f);
  return out;
}

std::string task_list() {
  std::string list;
  for (const auto& t : train::tasks()) list += (list.empty() ? "" : " or ") + t->name();
  return list;
}

ArgParser make_parser() {
  ArgParser p("train",
              "--task TASK --train FILE [--eval FILE] --output RUN_DIR "
              "(--model X.kiln | --config config.json --tokenizer PATH) [options]\n"
              "       kiln train --resume RUN_DIR [--threads N] [--stop-after-epochs N] "
              "[--stop-after-steps N] [--no-verify]");
  p.option("task", task_list())
      .option("train", "training data (JSON lines)")
      .option("eval", "evaluation data, scored after every epoch")
      .option("output", "run directory to create", "-o")
      .option("model",
              "kiln model file to fine-tune (its tokenizer, and its head when it has one for "
              "--task; a bare encoder gets a fresh head)",
              "-m")
      .flag("reinit-head",
            "replace the --model's task head with a fresh one for this data's labels")
      .option("labels", "labels of a fresh head, in id order: a,b,c (default: the training data's)")
      .option("num-labels", "number of labels of a fresh head (default: the training data's)")
      .option("config", "Hugging Face config.json of a model trained from scratch")
      .option("tokenizer", "tokenizer (tokenizer.json, vocab.txt or a directory) for --config")
      .option("text-field", "input field (default: tokens for tagging, text for classification)")
      .option("label-field",
              "label field (default: bio_tags for tagging, label for classification)")
      .option("word-splitter",
              "how the tagging data's words were (or, for text with spans, are) cut from text: " +
                  tok::word_splitter_names() +
                  " (default: tokenizer); recorded in best.kiln, where kiln tag splits text input "
                  "the same way")
      .option("max-length",
              "tokens per example including special tokens (default: min(128, "
              "model maximum))")
      .option("max-source-length", "summarization: tokens per source (the same as --max-length)")
      .option("max-target-length",
              "summarization: tokens per target summary including special tokens", "", "128")
      .option("k-top-longest", "summarization of document groups: keep the K longest documents")
      .option("max-docs-per-group",
              "summarization: split a document group into examples of at most N documents")
      .option("doc-sep",
              "summarization: separator token between documents (default: the tokenizer's "
              "<doc-sep>, else </s>)")
      .option("learning-rate", "peak learning rate", "", "5e-5")
      .option("optimizer", "adamw or sgd", "", "adamw")
      .option("weight-decay",
              "weight decay, not on biases and norms (AdamW: decoupled; SGD: added to the "
              "gradient)",
              "", "0")
      .option("momentum", "SGD momentum", "", "0")
      .flag("nesterov", "SGD with Nesterov momentum")
      .option("warmup-steps", "linear warm-up updates (overrides --warmup-ratio)")
      .option("warmup-ratio", "warm-up as a fraction of all updates", "", "0")
      .option("lr-scheduler", "decay after warm-up: linear, cosine or step", "", "linear")
      .option("lr-step-epochs", "step schedule: epochs between decays (default: 1)")
      .option("lr-gamma", "step schedule: the factor of each decay", "", "0.1")
      .option("per-device-batch-size", "examples per micro-batch", "", "8")
      .option("gradient-accumulation-steps", "micro-batches per optimizer update", "", "1")
      .option("max-grad-norm", "clip the gradient 2-norm (0: no clipping)", "", "1.0")
      .flag("bf16",
            "mixed precision: matrix products in bf16 with f32 accumulation (AVX512-BF16 where "
            "the CPU has it); weights, gradients, optimizer moments, norms and the loss stay f32")
      .flag("gradient-checkpointing",
            "recompute each layer's activations in backward instead of keeping them: less "
            "memory, more time, the same gradients bit for bit")
      .option("class-weights",
              "loss weights: balanced (scikit-learn's n_samples / (n_classes * count)), auto "
              "(the same over the classes present) or w1,w2,...")
      .option("eval-split",
              "evaluate on this fraction of --train's rows, held out deterministically by --seed "
              "(tasks that support it; instead of --eval)")
      .option("label-smoothing", "cross-entropy label smoothing", "", "0")
      .option("seed", "seed for initialisation, shuffling and dropout", "", "42")
      .option("epochs", "passes over the training data", "", "3")
      .option("metric", "eval metric that selects the best model (default: f1 / accuracy)")
      .option("patience", "stop after N evaluations without improvement (0: never)", "", "0")
      .option("logging-steps", "log (and print without a terminal) every N updates", "", "10")
      .option("save-steps", "also checkpoint every N updates (0: at epoch ends only)", "", "0")
      .option("stop-after-epochs", "end this session after N epochs; continue with --resume", "",
              "0")
      .option("stop-after-steps", "end this session after N updates (checkpointed); --resume", "",
              "0")
      .option("threads", kThreadsHelp)
      .option("resume", "continue the run in RUN_DIR from its checkpoint")
      .option("mlflow-uri",
              "also log the run live to this MLflow tracking server (http://host:port); an "
              "unreachable one is reported and training goes on (push later: kiln runs push)")
      .option("mlflow-experiment", "the MLflow experiment of --mlflow-uri", "", "Default")
      .flag("no-verify",
            "do not check the tensor checksums (kiln.data_sha256) of --model and of the "
            "checkpoint on load (faster for large models)");
  // How evaluation generates (summarization); defaults: the model's generation config.
  declare_generation_flags(p, "generation-");
  for (const auto& f : all_task_flags()) {
    std::string owners;
    for (const auto& t : train::tasks())
      for (const auto& g : t->flags())
        if (g.name == f.name) owners += (owners.empty() ? "" : ", ") + t->name();
    const std::string help = f.help + " (--task " + owners + ")";
    if (f.has_default)
      p.option(f.name, help, "", f.default_value);
    else
      p.option(f.name, help);
  }
  return p;
}

const std::vector<std::string> kOptionNames = {"task",
                                               "train",
                                               "eval",
                                               "output",
                                               "model",
                                               "reinit-head",
                                               "labels",
                                               "num-labels",
                                               "config",
                                               "tokenizer",
                                               "text-field",
                                               "label-field",
                                               "word-splitter",
                                               "max-length",
                                               "max-source-length",
                                               "max-target-length",
                                               "k-top-longest",
                                               "max-docs-per-group",
                                               "doc-sep",
                                               "learning-rate",
                                               "optimizer",
                                               "momentum",
                                               "nesterov",
                                               "weight-decay",
                                               "warmup-steps",
                                               "warmup-ratio",
                                               "lr-scheduler",
                                               "lr-step-epochs",
                                               "lr-gamma",
                                               "eval-split",
                                               "per-device-batch-size",
                                               "gradient-accumulation-steps",
                                               "max-grad-norm",
                                               "bf16",
                                               "gradient-checkpointing",
                                               "class-weights",
                                               "label-smoothing",
                                               "seed",
                                               "epochs",
                                               "metric",
                                               "patience",
                                               "logging-steps",
                                               "save-steps",
                                               "stop-after-epochs",
                                               "stop-after-steps",
                                               "threads"};

// Every option a run records in its manifest (and that --resume may not change unless allowed).
std::vector<std::string> all_option_names() {
  std::vector<std::string> names = kOptionNames;
  for (const auto& n : generation_flag_names("generation-")) names.push_back(n);
  for (const auto& f : all_task_flags()) names.push_back(f.name);
  return names;
}

// The flags that only tasks that generate (summarization) read.
std::vector<std::string> seq2seq_flag_names() {
  std::vector<std::string> names = {"max-source-length", "max-target-length", "k-top-longest",
                                    "max-docs-per-group", "doc-sep"};
  for (const auto& n : generation_flag_names("generation-")) names.push_back(n);
  return names;
}

const train::Task& parse_task(const std::string& s) {
  try {
    return train::task_by_name(s);
  } catch (const Error& e) {
    throw UsageError(std::string("--task: ") + e.what());
  }
}

// The architecture a model with `task`'s head has in `family` (for error messages).
std::string head_architecture(const nn::ModelFamily& family, const nlohmann::json& config,
                              const train::Task& task) {
  const auto with_head = family.config_with_head(config, task.name(), {});
  return with_head["architectures"][0].get<std::string>();
}

std::vector<double> parse_weights(const std::string& spec) {
  std::vector<double> w;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      w.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--class-weights expects auto or comma-separated numbers, got '" + spec +
                       "'");
    }
    if (!std::isfinite(w.back()) || w.back() < 0)
      throw UsageError("--class-weights must be finite and not negative, got '" + item + "'");
  }
  return w;
}

// A finite, non-negative real flag (learning rates, weight decay, clipping norms).
double non_negative(const ArgParser& p, const std::string& name) {
  const double v = p.get_double(name);
  if (!std::isfinite(v) || v < 0)
    throw UsageError("--" + name + " must be a finite number >= 0, got " + p.get(name));
  return v;
}

int64_t positive(const ArgParser& p, const std::string& name, int64_t min = 1) {
  const int64_t v = p.get_int(name);
  if (v < min) throw UsageError("--" + name + " must be at least " + std::to_string(min));
  return v;
}

// The model a run starts from: its config (with labels), tokenizer and (for --model) weights.
struct Start {
  const nn::ModelFamily* family = nullptr;
  nlohmann::json config;  // gets its head (config_with_head) once the labels are known
  std::string tokenizer_json;
  nn::StateDict weights;          // empty: random initialisation
  nlohmann::json weights_config;  // the config of the model `weights` are named for
  // A head is made for this run's labels: from scratch, over a bare encoder, or --reinit-head.
  bool fresh_head = false;
  std::vector<std::string> dropped;  // the old head's tensors (--reinit-head)
  nlohmann::json dropped_when_converted = nlohmann::json::array();  // from the file's provenance
  nlohmann::json generation_config;  // the model file's kiln.generation_config; null: none
};

// The labels of a fresh head: --labels, or the training data's (integer labels 0..N-1 named
// "0".."N-1"), checked against --num-labels. A data label outside --labels is found by the
// task's encode, with its file:line.
std::vector<std::string> fresh_head_labels(const ArgParser& p, const train::Task& task,
                                           const train::TaskData& data) {
  std::vector<std::string> labels;
  if (auto list = p.get_optional("labels")) {
    std::stringstream ss(*list);
    std::string item;
    std::set<std::string> seen;
    while (std::getline(ss, item, ',')) {
      if (item.empty() || !seen.insert(item).second)
        throw UsageError("--labels must be distinct, non-empty names separated by commas, got '" +
                         *list + "'");
      labels.push_back(item);
    }
    if (labels.empty()) throw UsageError("--labels needs at least one label");
  } else {
    labels = task.labels_from_data(data);
  }
  if (!p.given("num-labels")) return labels;
  const int64_t n = p.get_int("num-labels");
  if (n < 1) throw UsageError("--num-labels must be at least 1");
  const auto count = static_cast<int64_t>(labels.size());
  if (n == count) return labels;
  std::string names;
  for (const auto& l : labels) names += (names.empty() ? "" : ", ") + l;
  if (p.given("labels"))
    throw UsageError("--num-labels " + std::to_string(n) + " but --labels names " +
                     std::to_string(count) + " (" + names + ")");
  bool integer_ids = true;  // labels_from_data names integer labels 0..max by their decimal ids
  for (int64_t i = 0; i < count; ++i) integer_ids &= labels[i] == std::to_string(i);
  if (integer_ids && n > count) {
    for (int64_t i = count; i < n; ++i) labels.push_back(std::to_string(i));
    return labels;
  }
  throw UsageError("--num-labels " + std::to_string(n) + " but " + data.path + " has " +
                   std::to_string(count) + " labels (" + names +
                   "); name the head's labels with --labels");
}

Start start_from_options(const ArgParser& p, const train::Task& task) {
  Start s;
  const auto model = p.get_optional("model"), config = p.get_optional("config");
  if (model.has_value() == config.has_value())
    throw UsageError("give exactly one of --model (fine-tune) or --config (train from scratch)");
  if (model) {
    nn::ModelFile mf = nn::read_model_file(*model, !p.get_flag("no-verify"));
    if (const std::string q = nn::first_quantized_tensor(mf.quantization); !q.empty())
      throw Error(*model + ": '" + q + "' is quantized (" + mf.quantization.at(q).format +
                  ", kiln.quantization): a quantized model cannot be trained; fine-tune the float "
                  "model and quantize the result");
    s.family = &nn::family_by_name(mf.family, *model);
    s.config = mf.config;
    const nn::ModelSpec spec = s.family->parse_config(mf.config, *model + " (kiln.config)");
    const bool reinit = p.get_flag("reinit-head") && !spec.task.empty();
    if (!spec.task.empty() && !reinit) {
      KILN_CHECK(spec.task == task.name(), *model, ": the model is a ", spec.architecture,
                 ", not a ", head_architecture(*s.family, mf.config, task),
                 "; pass --reinit-head to replace its head with a fresh one for --task ",
                 task.name());
      if (p.given("labels") || p.given("num-labels")) {
        std::string names;
        for (const auto& l : spec.labels) names += (names.empty() ? "" : ",") + l;
        // Equal labels are no change; anything else needs a new head.
        KILN_CHECK(p.get_optional("labels").value_or(names) == names &&
                       (!p.given("num-labels") ||
                        p.get_int("num-labels") == static_cast<int64_t>(spec.labels.size())),
                   *model, ": its head has the labels ", names,
                   "; pass --reinit-head to replace it with a fresh head for --labels / "
                   "--num-labels");
      }
    }
    s.tokenizer_json = mf.tokenizer_json;
    if (auto it = mf.extra_metadata.find(nn::kGenerationConfigKey); it != mf.extra_metadata.end())
      s.generation_config = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (s.generation_config.is_discarded()) s.generation_config = nullptr;
    if (auto t = p.get_optional("tokenizer"))
      s.tokenizer_json = tok::Tokenizer::from_path(*t).to_json_string();
    KILN_CHECK(!s.tokenizer_json.empty() || !task.needs_tokenizer(), *model,
               ": the model file has no tokenizer; pass --tokenizer PATH");
    // The mapping is read-only and training updates weights in place: take copies.
    for (const auto& [name, t] : mf.tensors) s.weights[name] = t.clone();
    if (reinit) {
      nn::ConvertedWeights bare =
          s.family->without_head(mf.config, std::move(s.weights), *model + " (kiln.config)");
      s.config = std::move(bare.config);
      s.weights = std::move(bare.tensors);
      s.dropped = std::move(bare.dropped);
    }
    s.weights_config = s.config;
    s.fresh_head = spec.task.empty() || reinit;
    if (mf.provenance.is_object() && mf.provenance.contains("dropped_tensors"))
      s.dropped_when_converted = mf.provenance["dropped_tensors"];
    return s;
  }
  if (p.get_flag("reinit-head")) throw UsageError("--reinit-head needs --model");
  const auto tokenizer = p.get_optional("tokenizer");
  if (!tokenizer && task.needs_tokenizer()) throw UsageError("--config needs --tokenizer PATH");
  s.config = train::read_json_file(*config);
  s.family = &nn::family_for_config(s.config, *config);
  if (tokenizer) s.tokenizer_json = tok::Tokenizer::from_path(*tokenizer).to_json_string();
  s.fresh_head = true;
  return s;
}

// The command line with file arguments made absolute, so --resume works from any directory.
std::vector<std::string> with_absolute_paths(const std::vector<std::string>& args) {
  std::vector<std::string> path_flags = {"--train", "--eval", "--output", "-o",
                                         "--model", "-m",     "--config", "--tokenizer"};
  for (const auto& f : all_task_flags())
    if (f.is_path) path_flags.push_back("--" + f.name);
  auto abs = [](const std::string& v) { return fs::absolute(v).lexically_normal().string(); };
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const size_t eq = a.find('=');
    if (eq != std::string::npos &&
        std::find(path_flags.begin(), path_flags.end(), a.substr(0, eq)) != path_flags.end()) {
      out.push_back(a.substr(0, eq + 1) + abs(a.substr(eq + 1)));
    } else if (std::find(path_flags.begin(), path_flags.end(), a) != path_flags.end() &&
               i + 1 < args.size()) {
      out.push_back(a);
      out.push_back(abs(args[++i]));
    } else {
      out.push_back(a);
    }
  }
  return out;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Under mpirun (train/distributed.h): the ranks other than 0 train in step with rank 0 but write
// nothing; rank 0 keeps the run directory, its logs and checkpoints.
int train_as_other_rank(train::Trainer& run, const train::TrainState& state,
                        train::TrainHooks hooks) {
  InterruptGuard interrupt("");
  hooks.stop_requested = [] { return InterruptGuard::received() != 0; };
  run.run(state, hooks);
  const int stopped_by = InterruptGuard::received();
  return stopped_by ? exit_status_for_signal(stopped_by) : 0;
}

// A test of data-parallel error handling: KILN_TEST_FAIL_RANK=R makes rank R fail after its first
// update, while the other ranks wait for it in the next gradient sum.
void add_test_failure(train::TrainHooks& hooks, int rank) {
  const char* fail = std::getenv("KILN_TEST_FAIL_RANK");
  if (fail == nullptr || std::string(fail) != std::to_string(rank)) return;
  hooks.progress = [rank](int64_t, int64_t, double) {
    throw Error("KILN_TEST_FAIL_RANK: rank " + std::to_string(rank) + " fails on purpose");
  };
}

int run_train(const std::vector<std::string>& cli_args) {
  train::Distributed& world = train::Distributed::world();
  const bool rank0 = world.rank() == 0;
  ArgParser first = make_parser();
  first.parse(cli_args);
  if (first.help_requested()) {
    std::cout << first.help_text();
    return 0;
  }
  // A resumed run re-parses the original command line, then applies the allowed overrides.
  std::vector<std::string> args = cli_args;
  const auto resume_dir = first.get_optional("resume");
  nlohmann::json manifest;
  // Held until the command ends: one process trains a run directory at a time.
  std::unique_ptr<train::RunLock> lock;
  const bool verify = !first.get_flag("no-verify");
  if (resume_dir) {
    manifest = train::read_json_file(*resume_dir + "/manifest.json");
    // The ranks split each update's micro-batches: another number of them is another run.
    const int64_t ranks = manifest.value("resolved", nlohmann::json::object()).value("ranks", 1);
    if (ranks != world.size())
      throw Error(*resume_dir + " was trained by " + std::to_string(ranks) + " MPI rank" +
                  (ranks == 1 ? "" : "s") + "; resume it with the same number (" +
                  (ranks == 1 ? std::string("kiln train --resume, without mpirun")
                              : "mpirun -np " + std::to_string(ranks) + " kiln train --resume") +
                  "), not " + std::to_string(world.size()));
    if (rank0) lock = std::make_unique<train::RunLock>(*resume_dir);
    // Session limits belong to the session that set them, not to the whole run.
    const auto original = manifest.at("args").get<std::vector<std::string>>();
    args.clear();
    for (size_t i = 0; i < original.size(); ++i) {
      const std::string& a = original[i];
      if (a == "--stop-after-epochs" || a == "--stop-after-steps") {
        ++i;  // and its value
        continue;
      }
      if (a.rfind("--stop-after-epochs=", 0) == 0 || a.rfind("--stop-after-steps=", 0) == 0)
        continue;
      // Before --threads was validated, "--threads 0" meant all cores, as no --threads now does.
      if (a == "--threads" && i + 1 < original.size() && original[i + 1] == "0") {
        ++i;
        continue;
      }
      if (a == "--threads=0") continue;
      args.push_back(a);
    }
    auto given = [&](const std::string& name) { return first.given(name); };
    for (const auto& name : all_option_names()) {
      const bool allowed = std::find(std::begin(kResumeOverrides), std::end(kResumeOverrides),
                                     name) != std::end(kResumeOverrides);
      if (!allowed && given(name))
        throw UsageError("--" + name +
                         " cannot change when resuming (only --threads, "
                         "--stop-after-epochs, --stop-after-steps and --logging-steps can)");
    }
    // The parser keeps the last value of a repeated option, so overrides go at the end.
    for (const char* name : kResumeOverrides)
      if (auto v = first.get_optional(name); v && given(name))
        args.push_back(std::string("--") + name + "=" + *v);
    // Where the run is reported is not part of the computation (nor of the manifest's options).
    for (const char* name : {"mlflow-uri", "mlflow-experiment"})
      if (auto v = first.get_optional(name); v && given(name))
        args.push_back(std::string("--") + name + "=" + *v);
  }
  ArgParser p = make_parser();
  p.parse(args);
  const train::Task& task = parse_task(p.get("task"));
  if (!task.generates())
    for (const auto& name : seq2seq_flag_names())
      if (p.given(name))
        throw UsageError("--" + name +
                         " applies to tasks that generate (summarization), not --task " +
                         task.name());
  // The task's own flags: another task's are refused, this task's go to its setup.
  std::map<std::string, std::string> task_options;
  for (const auto& f : all_task_flags()) {
    const auto mine = task.flags();
    const bool owned =
        std::any_of(mine.begin(), mine.end(), [&](const auto& g) { return g.name == f.name; });
    if (!owned && p.given(f.name))
      throw UsageError("--" + f.name + " does not apply to --task " + task.name());
    if (owned && p.has(f.name)) task_options[f.name] = p.get(f.name);
  }
  if (p.given("eval-split") && p.given("eval"))
    throw UsageError("give --eval or --eval-split, not both");
  const std::string run_dir = resume_dir ? *resume_dir : p.get("output");
  const std::string train_path = p.get("train");
  const auto eval_path = p.get_optional("eval");
  const bool evaluates = eval_path.has_value() || p.given("eval-split");
  apply_threads_flag(p);
  // Ranks sharing a machine share its cores, unless told otherwise.
  if (world.local_size() > 1 && !p.given("threads") && std::getenv("KILN_NUM_THREADS") == nullptr)
    set_num_threads(std::max(1, num_threads() / world.local_size()));

  train::TrainOptions opt;
  if (world.size() > 1) opt.distributed = &world;
  opt.learning_rate = non_negative(p, "learning-rate");
  opt.weight_decay = non_negative(p, "weight-decay");
  opt.optimizer = p.get("optimizer");
  const auto kinds = train::optimizer_kinds();
  if (std::find(kinds.begin(), kinds.end(), opt.optimizer) == kinds.end())
    throw UsageError("--optimizer must be adamw or sgd, got '" + opt.optimizer + "'");
  opt.momentum = non_negative(p, "momentum");
  opt.nesterov = p.get_flag("nesterov");
  if (opt.optimizer != "sgd" && (p.given("momentum") || opt.nesterov))
    throw UsageError("--momentum and --nesterov apply to --optimizer sgd");
  try {
    opt.schedule = train::parse_schedule(p.get("lr-scheduler"));
  } catch (const Error& e) {
    throw UsageError(std::string("--lr-scheduler: ") + e.what());
  }
  if ((p.given("lr-step-epochs") || p.given("lr-gamma")) &&
      opt.schedule != train::ScheduleKind::Step)
    throw UsageError("--lr-step-epochs and --lr-gamma apply to --lr-scheduler step");
  opt.schedule_gamma = non_negative(p, "lr-gamma");
  opt.batch_size = positive(p, "per-device-batch-size");
  opt.grad_accumulation = positive(p, "gradient-accumulation-steps");
  opt.max_grad_norm = p.get_double("max-grad-norm");
  opt.bf16 = p.get_flag("bf16");
  opt.gradient_checkpointing = p.get_flag("gradient-checkpointing");
  if (!std::isfinite(opt.max_grad_norm))
    throw UsageError("--max-grad-norm must be a finite number (0: no clipping)");
  opt.loss.label_smoothing = p.get_double("label-smoothing");
  if (!(opt.loss.label_smoothing >= 0 && opt.loss.label_smoothing <= 1))
    throw UsageError("--label-smoothing must be in [0, 1]");
  opt.seed = static_cast<uint64_t>(p.get_int("seed"));
  opt.epochs = positive(p, "epochs");
  opt.metric = p.get_optional("metric").value_or("");
  opt.patience = positive(p, "patience", 0);
  opt.logging_steps = positive(p, "logging-steps");
  opt.save_steps = positive(p, "save-steps", 0);
  opt.stop_after_epochs = positive(p, "stop-after-epochs", 0);
  opt.stop_after_steps = positive(p, "stop-after-steps", 0);
  if (opt.metric.size() && !evaluates) throw UsageError("--metric needs --eval");

  auto refuse_existing_run = [&] {
    if (!resume_dir && fs::exists(run_dir + "/manifest.json"))
      throw Error(run_dir + " already holds a training run; use --resume " + run_dir +
                  " or choose another --output");
  };
  // A run being trained right now is named as such (the lock is taken once the directory exists).
  if (rank0 && !resume_dir && fs::is_directory(run_dir)) train::RunLock::check_not_held(run_dir);
  if (rank0) refuse_existing_run();

  // ---- the starting model (or the checkpoint) ----
  Start start;
  std::optional<train::Checkpoint> ckpt;
  if (resume_dir) {
    ckpt = train::read_checkpoint(run_dir, verify);
    start.config = ckpt->config;
    if (manifest.contains("generation_config"))
      start.generation_config = manifest["generation_config"];
    start.family = &nn::family_for_config(start.config, train::checkpoint_path(run_dir));
    nn::check_config_against_tensors(*start.family, ckpt->config, ckpt->weights,
                                     train::checkpoint_path(run_dir) + " (kiln.config)");
    start.tokenizer_json = ckpt->tokenizer_json;
    for (const char* key : {"train", "eval"}) {
      const auto& d = manifest.at("data");
      if (!d.contains(key) || !d[key].contains("path")) continue;  // an --eval-split set
      const std::string path = d[key].at("path"), hash = d[key].at("sha256");
      KILN_CHECK(sha256_file(path) == hash, path, ": changed since the run started (sha256 ",
                 "differs from ", run_dir, "/manifest.json); a resumed run needs the same data");
    }
  } else {
    start = start_from_options(p, task);
  }
  // Image tasks train models without one.
  std::optional<tok::Tokenizer> tokenizer;
  if (!start.tokenizer_json.empty()) {
    tokenizer = tok::Tokenizer::from_json_string(start.tokenizer_json);
    // kiln builds and pads its own sequences (as transformers' tokenizer calls do): the padding
    // and truncation a tokenizer.json may carry (sentence-transformers' Fixed 128) must not apply.
    tokenizer->set_padding(std::nullopt);
    tokenizer->set_truncation(std::nullopt);
  }
  KILN_CHECK(tokenizer || !task.needs_tokenizer(), "--task ", task.name(), " needs a tokenizer");
  const nn::ModelFamily& family = *start.family;
  // Where the config came from, for errors about its fields.
  std::string config_origin = p.get_optional("config").value_or("");
  if (resume_dir)
    config_origin = train::checkpoint_path(run_dir) + " (kiln.config)";
  else if (p.get_optional("model"))
    config_origin = p.get("model") + " (kiln.config)";

  // ---- data: read and checked before anything is written ----
  train::TaskSetup setup;
  setup.tokenizer = tokenizer ? &*tokenizer : nullptr;
  setup.task_options = task_options;
  setup.fields = task.default_fields();
  if (auto f = p.get_optional("text-field")) setup.fields.text = *f;
  if (auto f = p.get_optional("label-field")) setup.fields.label = *f;
  if (auto s = p.get_optional("word-splitter")) {
    try {
      setup.word_splitter = tok::parse_word_splitter(*s);
    } catch (const Error& e) {
      throw UsageError(std::string("--word-splitter: ") + e.what());
    }
  }
  const auto train_data = task.read(train_path, setup);
  std::unique_ptr<train::TaskData> eval_data;
  if (eval_path) eval_data = task.read(*eval_path, setup);
  if (p.given("eval-split")) {
    const double fraction = p.get_double("eval-split");
    if (!(fraction > 0 && fraction < 1))
      throw UsageError("--eval-split must be a fraction in (0, 1), got " + p.get("eval-split"));
    eval_data = task.split(*train_data, fraction, opt.seed, setup);
  }
  if (start.fresh_head)
    start.config =
        family.config_with_head(start.config, task.name(), fresh_head_labels(p, task, *train_data));
  // What the task learns from the data (an image classifier's metadata encoding) is part of the
  // model; a resumed run has it in its checkpoint's config already.
  if (!resume_dir)
    start.config = task.configure_model(start.config, *train_data, setup, start.fresh_head);
  setup.model_config = start.config;
  setup.spec = family.parse_config(start.config, config_origin);
  KILN_CHECK(setup.spec.task == task.name(), "the model is a ", setup.spec.architecture, ", not a ",
             head_architecture(family, start.config, task), " (--task ", p.get("task"), ")");
  setup.labels = setup.spec.labels;
  if (tokenizer) check_tokenizer_fits(*tokenizer, setup.spec, config_origin);
  const int64_t model_max = setup.spec.max_tokens;
  if (p.given("max-length") && p.given("max-source-length"))
    throw UsageError("--max-source-length is --max-length for summarization: give one of them");
  const std::string length_flag = p.given("max-source-length") ? "max-source-length" : "max-length";
  // A generating task reads whole sources by default (a summary of the first 128 tokens of an
  // article is not what people expect); classifiers keep the cheaper 128.
  setup.max_length = p.given(length_flag) ? p.get_int(length_flag)
                     : task.generates()   ? model_max
                                          : std::min<int64_t>(128, model_max);
  if (task.generates()) {
    setup.max_target_length = positive(p, "max-target-length", 2);
    if (p.given("k-top-longest")) setup.k_top_longest = positive(p, "k-top-longest");
    if (p.given("max-docs-per-group")) setup.max_docs_per_group = positive(p, "max-docs-per-group");
    setup.doc_sep = p.get_optional("doc-sep").value_or("");
    try {
      train::doc_sep_id(*tokenizer, setup.doc_sep);  // checked before anything is written
    } catch (const Error& e) {
      throw UsageError(std::string("--doc-sep: ") + e.what());
    }
    setup.generation =
        apply_generation_flags(p,
                               nn::model_generation_config(start.config, start.generation_config,
                                                           "summarization", config_origin),
                               setup.spec.vocab_size, "generation-");
  }
  if (setup.max_length > model_max)
    throw UsageError("--" + length_flag + " " + std::to_string(setup.max_length) +
                     " exceeds the model maximum of " + std::to_string(model_max));
  try {
    task.encode(*train_data, setup);
    if (eval_data) task.encode(*eval_data, setup);
  } catch (const Error& e) {
    // A label the model's existing head lacks: say how to train a head for this data instead.
    const std::string what = e.what();
    const bool label_error = what.find("the model's labels") != std::string::npos ||
                             what.find("outside the model's") != std::string::npos;
    if (!label_error || resume_dir || start.fresh_head) throw;
    throw Error(what + "; pass --reinit-head to replace " + p.get("model") +
                "'s head with a fresh one for this data's labels");
  }

  const int64_t num_labels = static_cast<int64_t>(setup.labels.size());
  if (auto cw = p.get_optional("class-weights")) {
    if (*cw == "auto")
      opt.loss.class_weights =
          train::auto_class_weights(task.target_counts(*train_data, num_labels));
    else if (*cw == "balanced")
      opt.loss.class_weights = train::balanced_class_weights(
          task.target_counts(*train_data, num_labels), setup.labels, train_path);
    else
      opt.loss.class_weights = parse_weights(*cw);
  }
  // ---- the model ----
  nlohmann::json model_init;  // what a fresh head initialised and dropped, for the manifest
  // Weights, gradients and two optimizer moments in f32: refuse what cannot fit before building.
  nn::check_model_fits_memory(family, start.config, config_origin, 16);
  // Resuming, or fine-tuning a model file with its own head: every parameter is loaded, none
  // initialised, so they are not allocated first (nn/empty_init.h). A fresh head draws its init
  // over the whole model (load_with_fresh_head), which needs the real tensors.
  const bool all_loaded = ckpt || (!start.weights.empty() && !start.fresh_head);
  const std::unique_ptr<nn::Model> model_ptr = [&] {
    nn::EmptyInit empty(all_loaded);
    return family.build(start.config, config_origin);
  }();
  nn::Model& model = *model_ptr;
  if (ckpt) {
    model.load_state_dict(ckpt->weights, /*strict=*/true, train::checkpoint_path(run_dir));
    nn::check_no_placeholders(model, train::checkpoint_path(run_dir));
  } else if (!start.weights.empty() && start.fresh_head) {
    // The encoder's weights under a new head, initialised as transformers initialises one.
    Generator init(opt.seed);
    const nn::HeadTransfer t = nn::load_with_fresh_head(
        family, model, start.config, start.weights_config, start.weights, init, p.get("model"));
    start.dropped.insert(start.dropped.end(), t.dropped.begin(), t.dropped.end());
    std::sort(start.dropped.begin(), start.dropped.end());
    model_init = {{"newly_initialized", t.newly_initialized},
                  {"dropped", start.dropped},
                  {"dropped_when_converted", start.dropped_when_converted}};
    auto list = [](const std::vector<std::string>& names) {
      std::string out;
      for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
      return out;
    };
    if (rank0)
      std::cerr << "kiln train: newly initialised (not in " << p.get("model")
                << "; train them before use): " << list(t.newly_initialized) << "\n";
    if (rank0 && !start.dropped.empty())
      std::cerr << "kiln train: not used from " << p.get("model") << ": " << list(start.dropped)
                << "\n";
  } else if (!start.weights.empty()) {
    model.load_state_dict(start.weights, /*strict=*/false, p.get("model"));
    nn::check_no_placeholders(model, p.get("model"));
  } else {
    Generator init(opt.seed);
    model.init_weights(init);
  }
  model.set_requires_grad(true);

  // Warm-up needs the total number of updates, known only once the data is read.
  opt.warmup_steps = p.get_optional("warmup-steps")
                         ? positive(p, "warmup-steps", 0)
                         : train::warmup_from_ratio(p.get_double("warmup-ratio"),
                                                    train::count_updates(train_data->size(), opt));
  if (opt.schedule == train::ScheduleKind::Step) {
    const int64_t per_epoch = std::max<int64_t>(
        1, train::count_updates(train_data->size(), opt) / std::max<int64_t>(1, opt.epochs));
    opt.schedule_step_size =
        per_epoch * (p.given("lr-step-epochs") ? positive(p, "lr-step-epochs") : 1);
  }
  train::Trainer run(model, task, setup, *train_data, eval_data.get(), opt);
  train::TrainState state = run.initial_state();
  if (ckpt) {
    state = train::TrainState::from_json(ckpt->state);
    run.restore(ckpt->optimizer);
    if (state.finished) {
      std::cerr << "kiln train: " << run_dir << " has already finished training\n";
      return 0;
    }
  }

  if (!rank0) {
    train::TrainHooks hooks;
    add_test_failure(hooks, world.rank());
    return train_as_other_rank(run, state, hooks);
  }

  // ---- the run directory ----
  fs::create_directories(run_dir);
  if (!lock) {
    lock = std::make_unique<train::RunLock>(run_dir);
    refuse_existing_run();  // another process may have made a run here since the first look
  }
  // Training seconds of the sessions before this one (elapsed_s of the last record kept).
  double elapsed_before = 0;
  if (!resume_dir) {
    nlohmann::ordered_json options;
    for (const auto& name : all_option_names())
      if (auto v = p.get_optional(name)) options[name] = *v;
    // md5 beside sha256: the hash DVC writes into .dvc files (data/file_hashes.h).
    auto data_entry = [](const std::string& path, size_t examples) {
      const data::FileHashes h = data::hash_file(path);
      return nlohmann::json{{"path", fs::absolute(path).string()},
                            {"sha256", h.sha256},
                            {"md5", h.md5},
                            {"size", h.size},
                            {"examples", examples}};
    };
    nlohmann::json data = {{"train", data_entry(train_path, train_data->size())}};
    if (eval_path) data["eval"] = data_entry(*eval_path, eval_data->size());
    if (eval_data && !eval_path)
      data["eval"] = {{"split_from", "train"}, {"examples", eval_data->size()}};
    std::string command = "kiln train";
    for (const auto& a : cli_args) command += " " + a;
    manifest = {{"command", command},
                {"args", with_absolute_paths(cli_args)},
                {"options", options},
                {"resolved",
                 {{"warmup_steps", opt.warmup_steps},
                  {"max_length", setup.max_length},
                  {"total_updates", run.total_updates()},
                  {"ranks", world.size()},
                  {"gemm", opt.bf16 ? std::string("bf16, ") + gemm::bf16gemm_backend()
                                    : std::string("f32, ") + gemm::sgemm_backend()},
                  {"class_weights", opt.loss.class_weights},
                  {"metric", evaluates ? run.metric_name() : ""},
                  {"word_splitter", tok::word_splitter_name(setup.word_splitter)}}},
                {"model_config", start.config},
                {"generation_config", start.generation_config},
                {"data", data},
                {"kiln_version", kVersion},
                {"cpu_features", cpu_features_string()},
                {"threads", num_threads()},
                {"created", now_utc()}};
    if (!model_init.is_null()) manifest["model_init"] = model_init;
    train::write_json_file(run_dir + "/manifest.json", manifest);
    std::error_code ec;
    fs::remove(run_dir + "/metrics.jsonl", ec);
  } else {
    // Records logged after the checkpoint (before an interruption) are logged again by this run.
    std::ifstream in(run_dir + "/metrics.jsonl");
    std::string kept, line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("step", int64_t{0}) <= state.global_step) {
        kept += line + "\n";
        elapsed_before = std::max(elapsed_before, j.value("elapsed_s", 0.0));
      }
    }
    io::atomic_write_file(run_dir + "/metrics.jsonl", kept);
  }
  train::MetricsLog metrics(run_dir + "/metrics.jsonl");
  // MLflow gets a copy of every record from a thread of its own (train/mlflow_live.h).
  std::unique_ptr<train::MlflowLive> mlflow;
  if (auto uri = p.get_optional("mlflow-uri"))
    mlflow = std::make_unique<train::MlflowLive>(
        *uri, p.get("mlflow-experiment"), run_dir, manifest,
        [](const std::string& line) { std::cerr << "\nkiln train: " << line << "\n"; });
  const std::string plot_metric = evaluates ? run.metric_name() : "";
  auto redraw = [&] {
    io::atomic_write_file(run_dir + "/plot.svg",
                          train::render_plot(run_dir + "/metrics.jsonl", plot_metric));
  };
  train::Progress progress(isatty(fileno(stderr)) != 0, opt.logging_steps);
  train::TrainHooks hooks;
  hooks.progress = [&](int64_t done, int64_t total, double loss) {
    progress.update(done, total, loss);
  };
  // System figures for each logged step (train/system_stats.h), and elapsed_s: seconds of
  // training since the run began, summed over sessions (`kiln runs` shows it as the wall time).
  train::SystemSampler system;
  const auto session_start = std::chrono::steady_clock::now();
  hooks.log = [&](const nlohmann::json& logged) {
    nlohmann::json record = logged;
    if (!record.contains("eval")) record.update(system.sample());
    const std::chrono::duration<double> session = std::chrono::steady_clock::now() - session_start;
    record["elapsed_s"] = std::round((elapsed_before + session.count()) * 1000.0) / 1000.0;
    // Wall-clock time (unix seconds), for trackers that plot against it (MLflow timestamps).
    record["time"] = std::round(std::chrono::duration<double>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count() *
                                1000.0) /
                     1000.0;
    metrics.append(record);
    if (mlflow) mlflow->log(record);
    if (record.contains("eval")) system.restart();  // the next step's figures exclude the eval
    if (record.contains("eval")) {
      // The headline numbers; per-class scores and the confusion matrix are in metrics.jsonl.
      nlohmann::json scalars = nlohmann::json::object();
      for (const auto& [key, value] : record["eval"].items())
        if (value.is_number()) scalars[key] = value;
      progress.message("epoch " + record["epoch"].dump() + " eval " + scalars.dump());
      redraw();
      // The latest evaluation's confusion matrix, as data and as a picture.
      if (record["eval"].contains("confusion_matrix") && record["eval"].contains("labels"))
        train::write_confusion_matrix(run_dir, record["eval"]["labels"],
                                      record["eval"]["confusion_matrix"], record["epoch"]);
    }
  };
  hooks.checkpoint = [&](const train::TrainState& s) {
    train::write_checkpoint(run_dir, model.state_dict(), run.optimizer(), s.to_json(), start.config,
                            start.tokenizer_json);
  };
  hooks.save_best = [&](const train::TrainState& s) {
    nn::ModelFile mf;
    mf.family = family.name();
    mf.config = start.config;
    mf.tokenizer_json = start.tokenizer_json;
    mf.provenance = {{"trained_by", "kiln train"},
                     {"kiln_version", kVersion},
                     {"run_dir", fs::absolute(run_dir).string()},
                     {"epoch", s.best_epoch},
                     {"train_sha256", manifest.at("data").at("train").at("sha256")}};
    if (evaluates) mf.provenance["metric"] = {{run.metric_name(), s.best_metric}};
    mf.tensors = model.state_dict();
    // How `kiln tag` must split text for this model: as its training data's words were split.
    mf.extra_metadata[nn::kWordSplitterKey] = tok::word_splitter_name(setup.word_splitter);
    if (!start.generation_config.is_null())
      mf.extra_metadata[nn::kGenerationConfigKey] = start.generation_config.dump();
    nn::write_model_file(run_dir + "/best.kiln", mf);
  };
  // A failure mid-run leaves the directory marked (and resumable from its last checkpoint).
  const std::string failed_marker = run_dir + "/FAILED";
  std::error_code ec;
  fs::remove(failed_marker, ec);
  train::TrainState end;
  int stopped_by = 0;  // the signal that ended the session early
  {
    // Ctrl-C or SIGTERM from here on: finish the update in progress, write a checkpoint, exit
    // 130 / 143. The bit-exact resume makes this the same as --stop-after-steps there.
    InterruptGuard interrupt(
        "\nkiln train: stopping after the current update to write a checkpoint (press Ctrl-C "
        "again to quit at once, losing the updates since the last checkpoint)\n");
    hooks.stop_requested = [] { return InterruptGuard::received() != 0; };
    add_test_failure(hooks, world.rank());
    try {
      end = run.run(state, hooks);
    } catch (const std::exception& e) {
      progress.finish();
      io::atomic_write_file(failed_marker, std::string(e.what()) + "\n");
      if (mlflow) mlflow->finish("FAILED");
      throw;
    }
    stopped_by = InterruptGuard::received();
  }
  progress.finish();
  redraw();
  // Ended early (a signal, --stop-after-*): KILLED until a resumed session finishes it.
  if (mlflow && !mlflow->finish(end.finished ? "FINISHED" : "KILLED",
                                end.finished ? run_dir + "/best.kiln" : ""))
    std::cerr << "kiln train: the run is complete in " << run_dir
              << " but not in MLflow: kiln runs push " << run_dir << " --mlflow-uri "
              << p.get("mlflow-uri") << "\n";
  if (stopped_by) {
    std::cerr << "kiln train: stopped by " << (stopped_by == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM")
              << " after update " << end.global_step << "; "
              << (end.finished ? "training had finished, model: " + run_dir + "/best.kiln"
                               : "checkpoint written to " + train::checkpoint_path(run_dir) +
                                     "; continue with: kiln train --resume " + run_dir)
              << "\n";
    return exit_status_for_signal(stopped_by);
  }
  std::ostringstream summary;
  summary << "kiln train: " << end.global_step << " updates, " << end.epoch << " epochs";
  if (evaluates && end.best_epoch >= 0)
    summary << ", best " << run.metric_name() << " " << end.best_metric << " (epoch "
            << end.best_epoch << ")";
  if (end.best_epoch >= 0) summary << "; model: " << run_dir << "/best.kiln";
  if (!end.finished)
    summary << "; session ended by --stop-after-*, continue with --resume " << run_dir;
  summary << "\n";
  std::cerr << summary.str();
  return 0;
}

// Under mpirun, an error on any rank ends the whole job at once (MPI_Abort): the other ranks would
// otherwise wait for it in the next gradient sum. A single process runs as before.
int run_train_command(const std::vector<std::string>& cli_args) {
  if (!train::Distributed::launched_by_mpi()) return run_train(cli_args);
  train::Distributed& world = train::Distributed::world();
  const std::string who = "kiln train (rank " + std::to_string(world.rank()) + " of " +
                          std::to_string(world.size()) + ")";
  try {
    const int rc = run_train(cli_args);
    world.finalize();
    return rc;
  } catch (const UsageError& e) {
    // One write per message: the ranks share stderr, and pieces written separately interleave
    // with the other ranks' progress lines.
    std::cerr << (who + ": " + e.what() + "\n(see 'kiln train --help')\n") << std::flush;
    world.abort(2);
  } catch (const std::exception& e) {
    std::cerr << (who + ": error: " + e.what() + "\n") << std::flush;
    world.abort(1);
  }
}

KILN_COMMAND("train", "fine-tune or train a tagger, a classifier or a summarizer",
             run_train_command);

}  // namespace
}  // namespace kiln::cli
