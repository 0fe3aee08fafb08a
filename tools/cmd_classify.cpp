// kiln classify -m MODEL [--input FILE] [--probs]
// One JSON line per input: the input's other fields, then {"text", "label", "score"} (+ "pair"
// when given, + "probs" with --probs). Output streams: each line is written as soon as its batch
// has run. Input formats, field pass-through and bad lines: tools/stream_input.h.
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

constexpr const char* kTask = "sequence-classification";

int run_classify(const std::vector<std::string>& args) {
  ArgParser p("classify", "-m MODEL [--input FILE] [--probs]");
  p.option("model", "kiln model file with a sequence-classification head", "-m");
  declare_stream_input_flags(p, "\"text\" (and optional \"pair\")");
  p.option("text-field", "input field holding the text", "", "text")
      .option("pair-field", "input field holding the optional second text of a pair", "", "pair")
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
      p.get("model"), {kTask, "kiln classify", /*need_tokenizer=*/true,
                       /*pack_for_inference=*/true, /*verify=*/!p.get_flag("no-verify")});

  train::TaskSetup setup;
  setup.fields.text = p.get("text-field");
  setup.fields.pair = p.get("pair-field");
  const auto predictor = make_predictor(m, kTask, {{"probs", p.get_flag("probs")}}, setup);

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

KILN_COMMAND("classify", "label whole texts (or text pairs) with a sequence classifier",
             run_classify);

}  // namespace
}  // namespace kiln::cli
