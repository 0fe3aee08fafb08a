// kiln eval -m MODEL --task TASK -i FILE [--text-field F] [--label-field F] [--batch-size N]
// Scores a model on labelled data and prints the task's metrics as one JSON object: the mean loss
// over the scored targets, accuracy, macro-F1, per-class precision/recall/F1 by label name and the
// confusion matrix (rows gold, columns predicted, in the order of "labels"); tagging adds seqeval's
// entity precision/recall/F1. These are the metrics training's per-epoch evaluation logs. Inputs
// are truncated to the model's full length, as `kiln classify` truncates them, so the accuracy
// here is the accuracy of classify's labels on the same file.
#include <algorithm>
#include <iostream>
#include <map>

#include "data/record_reader.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/generation_flags.h"
#include "tools/model_loading.h"
#include "tools/threads.h"
#include "train/evaluate.h"
#include "train/task.h"

namespace kiln::cli {
namespace {

std::string task_list() {
  std::string list;
  for (const auto& t : train::tasks()) list += (list.empty() ? "" : " or ") + t->name();
  return list;
}

int run_eval(const std::vector<std::string>& args) {
  ArgParser p("eval", "-m MODEL --task TASK -i FILE [options]");
  p.option("model", "kiln model file with a head for --task", "-m")
      .option("task", task_list())
      .option("input", "labelled data: JSON lines, CSV or TSV (by extension or --input-format)",
              "-i")
      .option("input-format", "auto, jsonl, csv or tsv", "", "auto")
      .option("text-field", "input field (default: tokens for tagging, text for classification)")
      .option("label-field",
              "label field (default: bio_tags for tagging, label for classification)")
      .option("max-length",
              "tokens per example including special tokens (default: the model's maximum)")
      .option("max-target-length", "summarization: target tokens scored by the loss", "", "128")
      .option("batch-size", "examples per forward pass", "", "16")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  // Summarization: how the summaries that ROUGE scores are generated (default: the model's
  // generation config), under kiln train's names.
  declare_generation_flags(p, "generation-");
  // The tasks' own data flags (--image-field, ...), as kiln train declares them.
  std::map<std::string, std::string> task_flag_owner;
  for (const auto& t : train::tasks())
    for (const auto& f : t->flags()) {
      if (task_flag_owner.count(f.name)) continue;
      task_flag_owner[f.name] = t->name();
      if (f.has_default)
        p.option(f.name, f.help + " (--task " + t->name() + ")", "", f.default_value);
      else
        p.option(f.name, f.help + " (--task " + t->name() + ")");
    }
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const train::Task* task = nullptr;
  try {
    task = &train::task_by_name(p.get("task"));
  } catch (const Error& e) {
    throw UsageError(std::string("--task: ") + e.what());
  }
  const std::string input = p.get("input");
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  data::Format format = data::Format::Auto;
  try {
    format = data::parse_format(p.get("input-format"));
  } catch (const Error& e) {
    throw UsageError(std::string("--input-format: ") + e.what());
  }
  apply_threads_flag(p);

  LoadOptions load;
  load.task = task->name();
  load.command = "kiln eval";
  load.need_tokenizer = task->needs_tokenizer();
  load.verify = !p.get_flag("no-verify");
  LoadedModel m = load_model(p.get("model"), load);

  train::TaskSetup setup;
  setup.tokenizer = m.tokenizer ? &*m.tokenizer : nullptr;
  setup.model_config = m.config;
  for (const auto& f : task->flags())
    if (p.has(f.name)) setup.task_options[f.name] = p.get(f.name);
  for (const auto& [name, owner] : task_flag_owner) {
    const auto mine = task->flags();
    if (p.given(name) &&
        std::none_of(mine.begin(), mine.end(), [&](const auto& f) { return f.name == name; }))
      throw UsageError("--" + name + " does not apply to --task " + task->name());
  }
  setup.spec = m.spec;
  setup.labels = m.spec.labels;
  setup.format = format;
  setup.word_splitter = m.word_splitter;  // text+spans data is split as the training data was
  setup.max_length = m.spec.max_tokens;
  if (p.given("max-length")) {
    setup.max_length = p.get_int("max-length");
    if (setup.max_length < 1 || setup.max_length > m.spec.max_tokens)
      throw UsageError("--max-length must be from 1 to the model maximum of " +
                       std::to_string(m.spec.max_tokens));
  }
  setup.fields = task->default_fields();
  if (auto f = p.get_optional("text-field")) setup.fields.text = *f;
  if (auto f = p.get_optional("label-field")) setup.fields.label = *f;
  std::vector<std::string> seq2seq_flags = generation_flag_names("generation-");
  seq2seq_flags.push_back("max-target-length");
  if (!task->generates()) {
    for (const auto& name : seq2seq_flags)
      if (p.given(name))
        throw UsageError("--" + name + " applies to tasks that generate (summarization)");
  } else {
    setup.max_target_length = p.get_int("max-target-length");
    if (setup.max_target_length < 2) throw UsageError("--max-target-length must be at least 2");
    setup.generation = apply_generation_flags(
        p, nn::model_generation_config(m.config, m.generation_config, "summarization", m.path),
        m.spec.vocab_size, "generation-");
  }

  // Every line is read and checked (file:line errors, an unknown label) before any forward.
  const auto data = task->read(input, setup);
  task->encode(*data, setup);
  nlohmann::json metrics =
      train::evaluate(*m.model, *task, setup, *data, static_cast<size_t>(batch));
  metrics["model"] = p.get("model");
  metrics["input"] = input;
  metrics["task"] = task->name();
  std::cout << metrics.dump(2) << "\n";
  return 0;
}

KILN_COMMAND("eval",
             "score a model on labelled data: loss, accuracy, F1, confusion matrix, ROUGE (JSON)",
             run_eval);

}  // namespace
}  // namespace kiln::cli
