// Tasks are plug-ins (KILN_TASK), as model families are: a task knows how to read its rows
// (validating fields with file:line errors), encode and collate a batch into the model's named
// inputs, compute the loss and the metrics, and format predictions. The trainer, `kiln eval`
// and the inference commands drive a task through this interface only, so summarization, image
// classification or distillation are new files, not edits to the trainer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/record_reader.h"
#include "nn/family.h"
#include "nn/generation_config.h"
#include "nn/model.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/word_splitter.h"

namespace kiln::train {

// Loss targets that are not scored (special tokens, non-first sub-tokens, padding); the same
// value as cross_entropy's default ignore_index.
inline constexpr int64_t kIgnoreLabel = -100;

// Everything a task needs to read and encode data for one model.
struct TaskSetup {
  const tok::Tokenizer* tokenizer = nullptr;  // not owned; null for models without one
  nn::ModelSpec spec;                         // the model's limits and conventions
  std::vector<std::string> labels;            // id -> label (empty until known)
  int64_t max_length = 128;                   // tokens per example, special tokens included
  data::FieldMap fields;                      // filled from the task's defaults and the flags
  data::Format format = data::Format::Auto;
  // How text is cut into words for word-level tasks: the spans of text+spans training data, and
  // `kiln tag`'s "text" input (recorded in the model file as kiln.word_splitter).
  tok::WordSplitter word_splitter = tok::WordSplitter::Tokenizer;

  // Tasks that generate (Task::generates(): summarization). max_length above is the source's
  // length; these shape the rest (train/summarization_source.h has the input side).
  int64_t max_target_length = 128;  // target tokens, special tokens included
  int64_t k_top_longest = 0;        // multi-document input: keep the K longest; 0: all
  int64_t max_docs_per_group = 0;   // split a document group into examples of at most N; 0: no
  std::string doc_sep;              // separator token between documents; empty: the default
  nn::GenerationConfig generation;  // how evaluation generates

  // The model's config.json (kiln's form), for tasks whose inputs depend on more than the spec
  // (image classification: input size, normalisation, metadata encoding). Null when unknown.
  nlohmann::json model_config;
  // The values of the task's own flags (Task::flags()), by flag name, defaults filled in.
  std::map<std::string, std::string> task_options;
};

// A command-line flag a task adds to `kiln train` (--image-field): declared for every task,
// refused for the others, recorded in the run's manifest like the trainer's own flags.
struct TaskFlag {
  std::string name;  // without dashes
  std::string help;
  std::string default_value;  // "" with has_default false: absent unless given
  bool has_default = false;
  bool is_path = false;  // a file or directory: made absolute in the manifest (for --resume)
};

// Where a training example sits in the run, for tasks that augment their training inputs: the
// augmentation of an example is a pure function of (seed, epoch, example index), so a resumed run
// sees the same inputs.
struct TrainingStep {
  uint64_t seed = 0;
  int64_t epoch = 0;
};

// A task's rows of one file, read and (after encode) ready to collate. Each task derives its own.
class TaskData {
 public:
  virtual ~TaskData() = default;
  virtual size_t size() const = 0;
  // Real (unpadded) input tokens of example i, for throughput figures.
  virtual int64_t tokens(size_t i) const = 0;
  std::string path;
};

struct Batch {
  nn::NamedTensors inputs;  // the model's forward arguments
  Tensor targets;           // task-specific (class ids, flattened per-token ids, ...)
  int64_t tokens = 0;       // real input tokens
};

struct LossOptions {
  double label_smoothing = 0.0;
  std::vector<double> class_weights;  // empty: unweighted
};

// Accumulates a task's predictions against gold over batches, then reports the metrics.
class Evaluation {
 public:
  virtual ~Evaluation() = default;
  virtual void add(const nn::NamedTensors& outputs, const TaskData& data,
                   const std::vector<size_t>& indices) = 0;
  // One batch of evaluation: by default the model's forward outputs go to add(). Tasks that score
  // what the model generates (summarization) override it.
  virtual void add_batch(const nn::Model& model, const Batch& batch, const TaskData& data,
                         const std::vector<size_t>& indices) {
    add(model.forward(batch.inputs), data, indices);
  }
  virtual nlohmann::json metrics() const = 0;
};

// Inference for the task's command (tag, classify): one input record becomes one or more model
// inputs (long inputs may be cut into windows); their outputs become one output line.
class Predictor {
 public:
  virtual ~Predictor() = default;
  // Unbatched model inputs (1-D token sequences): the engine pads and batches them.
  virtual std::vector<nn::NamedTensors> inputs(const data::Record& record) = 0;
  // `outputs[k]` are the model outputs (batch dimension removed) for inputs(record)[k].
  virtual nlohmann::ordered_json format(const data::Record& record,
                                        const std::vector<nn::NamedTensors>& outputs) = 0;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;  // "token-classification"
  virtual std::string summary() const = 0;
  // Metrics evaluation reports that can select the best model; the first is the default.
  virtual std::vector<std::string> selection_metrics() const = 0;
  // Sequence-to-sequence: evaluation generates, and the TaskSetup's generation and multi-document
  // settings apply (kiln train refuses those flags for other tasks).
  virtual bool generates() const { return false; }
  // The field mapping when no flag overrides it (e.g. tokens / bio_tags for tagging).
  virtual data::FieldMap default_fields() const = 0;
  // Text tasks encode with the model's tokenizer; image tasks need none.
  virtual bool needs_tokenizer() const { return true; }
  // The task's own `kiln train` flags (setup.task_options holds their values).
  virtual std::vector<TaskFlag> flags() const { return {}; }
  // The config of the model a run trains, adapted to the training data before the model is built
  // (image classification learns the metadata encoding from it). `fresh_head`: the head (and
  // anything the task derives from data) is new for this run; otherwise the task only checks that
  // the data agrees with the model. The default keeps the config.
  virtual nlohmann::json configure_model(const nlohmann::json& config, const TaskData& /*train*/,
                                         const TaskSetup& /*setup*/, bool /*fresh_head*/) const {
    return config;
  }
  // `kiln train --eval-split F`: moves about `fraction` of `data`'s rows into a new evaluation
  // set, deterministically from `seed`. Called after read(), before labels and encode().
  virtual std::unique_ptr<TaskData> split(TaskData& /*data*/, double /*fraction*/,
                                          uint64_t /*seed*/, const TaskSetup& /*setup*/) const {
    throw Error("task '" + name() + "' cannot split its training data (--eval-split); pass --eval");
  }

  // Reads and checks every row of `path` (errors name file:line and the field).
  virtual std::unique_ptr<TaskData> read(const std::string& path, const TaskSetup& setup) const = 0;
  // The label set of a head made for this data (from scratch or a fresh head).
  virtual std::vector<std::string> labels_from_data(const TaskData& data) const = 0;
  // Tokenises the rows and maps their labels through setup.labels (an unknown label: file:line).
  virtual void encode(TaskData& data, const TaskSetup& setup) const = 0;

  virtual Batch collate(const TaskData& data, const std::vector<size_t>& indices,
                        const TaskSetup& setup) const = 0;
  // A training micro-batch; tasks that augment override it. The default is collate().
  virtual Batch collate_for_training(const TaskData& data, const std::vector<size_t>& indices,
                                     const TaskSetup& setup, const TrainingStep& /*step*/) const {
    return collate(data, indices, setup);
  }
  // Scored targets of each class in `data` (for "auto" class weights).
  virtual std::vector<int64_t> target_counts(const TaskData& data, int64_t num_labels) const = 0;
  // Total weight of the scored targets of `indices`: the loss denominator, so that an update
  // over several micro-batches equals one big batch.
  virtual double target_weight(const TaskData& data, const std::vector<size_t>& indices,
                               const LossOptions& options) const = 0;
  // The loss of a batch, summed over its scored targets (weighted).
  virtual Tensor loss(const nn::NamedTensors& outputs, const Batch& batch,
                      const LossOptions& options) const = 0;
  virtual std::unique_ptr<Evaluation> evaluation(const TaskSetup& setup) const = 0;

  // Inference; `options` are the command's own flags (probs, stride, ...). Tasks without an
  // inference command throw.
  virtual std::unique_ptr<Predictor> predictor(const TaskSetup& setup,
                                               const nlohmann::json& options) const = 0;
};

void register_task(std::shared_ptr<const Task> task);
std::vector<std::shared_ptr<const Task>> tasks();
// The error lists the registered tasks.
const Task& task_by_name(const std::string& name);

template <typename T>
struct TaskRegistrar {
  TaskRegistrar() { register_task(std::make_shared<T>()); }
};

}  // namespace kiln::train

#define KILN_TASK_CONCAT2(a, b) a##b
#define KILN_TASK_CONCAT(a, b) KILN_TASK_CONCAT2(a, b)
#define KILN_TASK(Type) \
  static ::kiln::train::TaskRegistrar<Type> KILN_TASK_CONCAT(kiln_task_reg_, __LINE__)
