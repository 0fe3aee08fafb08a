// kiln classify -m MODEL [--input FILE] [--probs]
// One JSON line per input: {"text", "label", "score"} (+ "pair" when given, + "probs" with
// --probs).
#include <iostream>

#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/bert_runner.h"
#include "tools/command.h"
#include "tools/jsonl_input.h"

namespace kiln::cli {
namespace {

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
  const int batch = static_cast<int>(p.get_int("batch-size"));
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  set_num_threads(static_cast<int>(p.get_int("threads")));
  LoadedBert m = load_bert(p.get("model"), nn::BertTask::SequenceClassification);
  tok::TruncationParams trunc;
  trunc.max_length = static_cast<size_t>(m.max_tokens);
  m.tokenizer->set_truncation(trunc);

  // Read everything first so that a bad line fails before any output.
  JsonlInput in(p.get("input"));
  std::vector<nlohmann::json> rows;
  std::vector<tok::EncodeInput> inputs;
  while (auto j = in.next()) {
    tok::EncodeInput e{in.string_field(*j, "text"), std::nullopt};
    if (j->contains("pair")) e.pair = in.string_field(*j, "pair");
    rows.push_back(*j);
    inputs.push_back(std::move(e));
  }
  const auto encs = m.tokenizer->encode_batch(inputs);
  const auto probs = run_sequence_probs(m, encs, batch);
  const bool want_probs = p.get_flag("probs");
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t best = argmax_label(probs[i]);
    nlohmann::ordered_json out;
    out["text"] = inputs[i].text;
    if (inputs[i].pair) out["pair"] = *inputs[i].pair;
    out["label"] = m.config.labels[best];
    out["score"] = probs[i][best];
    if (want_probs) out["probs"] = label_probs(m.config.labels, probs[i]);
    std::cout << out.dump() << "\n";
  }
  return 0;
}

KILN_COMMAND("classify", "label whole texts (or text pairs) with a sequence classifier",
             run_classify);

}  // namespace
}  // namespace kiln::cli
