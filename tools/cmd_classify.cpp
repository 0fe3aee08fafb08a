// kiln classify -m MODEL [--input FILE] [--probs]
// One JSON line per input: {"text", "label", "score"} (+ "pair" when given, + "probs" with
// --probs). Output streams: each line is written as soon as its batch has run.
#include <iostream>

#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"
#include "tools/predict_stream.h"
#include "train/predictors.h"

namespace kiln::cli {
namespace {

constexpr const char* kTask = "sequence-classification";

int run_classify(const std::vector<std::string>& args) {
  ArgParser p("classify", "-m MODEL [--input FILE] [--probs]");
  p.option("model", "kiln model file with a sequence-classification head", "-m")
      .option("input",
              "JSON lines with \"text\" (and optional \"pair\"), or plain text lines; - for stdin",
              "-i", "-")
      .flag("probs", "add a \"probs\" map {label: probability}")
      .option("batch-size", "inputs per forward pass", "", "16")
      .option("threads", "worker threads (default: all cores)", "", "0");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  set_num_threads(static_cast<int>(p.get_int("threads")));
  const LoadedModel m =
      load_model(p.get("model"), {kTask, "kiln classify", /*need_tokenizer=*/true});

  train::TaskSetup setup;
  const auto predictor = make_predictor(m, kTask, {{"probs", p.get_flag("probs")}}, setup);

  auto reader = data::RecordReader::open(p.get("input"), data::Format::Jsonl);
  StreamSink sink;
  sink.write = [](size_t, const data::Record&, const nlohmann::ordered_json& out) {
    std::cout << out.dump() << "\n";
  };
  sink.flush = [] { std::cout.flush(); };
  // The task's predictors read the head's logits only.
  stream_predictions(*reader, *predictor, *m.model, {batch, 0, pad_values(m.spec), {"logits"}},
                     sink);
  return 0;
}

KILN_COMMAND("classify", "label whole texts (or text pairs) with a sequence classifier",
             run_classify);

}  // namespace
}  // namespace kiln::cli
