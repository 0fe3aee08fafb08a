// kiln classify -m MODEL [--input FILE] [--probs]
// One JSON line per input: the input's other fields, then {"text", "label", "score"} (+ "pair"
// when given, + "probs" with --probs) for a text classifier; {"image", "label", "score"} for an
// image classifier, whose records are {"image": "path.jpg", "metadata": {...}} (the model's task
// picks its predictor, train/predictors.h and train/image_classification_predictor.h). Output
// streams: each line is written as soon as its batch has run. Input formats, field pass-through and
// bad lines: tools/stream_input.h.
#include <algorithm>
#include <iostream>

#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"
#include "tools/output.h"
#include "tools/predict_stream.h"
#include "tools/stream_input.h"
#include "tools/threads.h"
#include "train/predictors.h"

namespace kiln::cli {
namespace {

// The tasks whose models classify whole inputs; the model's own task picks the predictor.
const std::vector<std::string> kTasks = {"sequence-classification", "image-classification"};

int run_classify(const std::vector<std::string>& args) {
  ArgParser p("classify", "-m MODEL [--input FILE] [--probs]");
  p.option("model", "kiln model file with a sequence- or image-classification head", "-m");
  declare_stream_input_flags(
      p, "\"text\" (and optional \"pair\"); for image models \"image\" and \"metadata\"");
  p.option("text-field", "input field holding the text", "", "text")
      .option("pair-field", "input field holding the optional second text of a pair", "", "pair")
      .option("image-field", "image models: input field holding the image path", "", "image")
      .option("metadata-field",
              "image models: input field holding the metadata object (without it, the record's "
              "own fields)",
              "", "metadata")
      .option("image-dir",
              "image models: directory relative image paths are under (default: the input "
              "file's directory)")
      .flag("probs", "add a \"probs\" map {label: probability}")
      .option("batch-size", "inputs per forward pass", "", "16")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  apply_threads_flag(p);
  const LoadedModel m = load_model(
      p.get("model"), {"", "kiln classify", /*need_tokenizer=*/false,
                       /*pack_for_inference=*/true, /*verify=*/!p.get_flag("no-verify")});
  if (std::find(kTasks.begin(), kTasks.end(), m.spec.task) == kTasks.end()) {
    const std::string what = m.spec.architecture.empty() ? m.spec.model_type : m.spec.architecture;
    // Tasks as people write them in a sentence ("token classification").
    std::string made_for = m.spec.task.empty() ? "no task (it has no task head)" : m.spec.task;
    std::replace(made_for.begin(), made_for.end(), '-', ' ');
    throw Error(m.path + ": this model is a " + what + ", made for " + made_for +
                "; kiln classify needs sequence classification or image classification");
  }
  KILN_CHECK(m.tokenizer || !train::task_by_name(m.spec.task).needs_tokenizer(), m.path,
             ": the model file has no tokenizer (it was converted with --no-tokenizer)");

  train::TaskSetup setup;
  setup.fields.text = p.get("text-field");
  setup.fields.pair = p.get("pair-field");
  nlohmann::json options = {{"probs", p.get_flag("probs")},
                            {"image_field", p.get("image-field")},
                            {"metadata_field", p.get("metadata-field")}};
  if (auto d = p.get_optional("image-dir")) options["image_dir"] = *d;
  const auto predictor = make_predictor(m, m.spec.task, options, setup);

  auto reader = open_stream_input(p);
  StreamSink sink;
  BadLines bad_lines("kiln classify", p);
  bad_lines.attach(sink);
  sink.write = [](size_t, const data::Record&, const nlohmann::ordered_json& out) {
    // Invalid UTF-8 can only come from a passed-through CSV/TSV/text cell (the texts are checked
    // by the tokenizer): it is written as U+FFFD rather than failing the line.
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  };
  sink.flush = [] { flush_stdout_or_throw(); };  // stop at a failed write
  // The task's predictors read the head's logits only.
  const size_t written = stream_predictions(*reader, *predictor, *m.model,
                                            {batch, 0, pad_values(m.spec), {"logits"}}, sink);
  bad_lines.finish(written);
  return 0;
}

KILN_COMMAND("classify", "label whole texts (or text pairs), images or image records",
             run_classify);

}  // namespace
}  // namespace kiln::cli
