// kiln tag -m MODEL [--input FILE] [--probs] [--stride N]
// Token classification over words: one label per word (the prediction for the word's first
// sub-token), and spans merged from IOB2 tags with byte offsets into the input text.
// Input lines carry "text" (split into words by the model's own pre-tokenizer) or "words" (already
// split, as in ../shared/data/inspec; the text is then the words joined by single spaces).
// Output streams: each record is written as soon as its batch has run.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"
#include "tools/predict_stream.h"
#include "train/predictors.h"

namespace kiln::cli {
namespace {

constexpr const char* kTask = "token-classification";

// Human-readable output: the start of the text, then each span with its label and score.
void print_text_summary(size_t index, const nlohmann::ordered_json& out) {
  const std::string& text = out["text"].get_ref<const std::string&>();
  constexpr size_t kPreview = 90;
  std::string preview = text.substr(0, kPreview);
  while (!preview.empty() && (static_cast<unsigned char>(preview.back()) & 0xC0) == 0x80)
    preview.pop_back();  // do not cut a UTF-8 character in half
  if (text.size() > kPreview) preview += "...";
  std::cout << "[" << index + 1 << "] " << preview << "\n";
  const auto& spans = out["spans"];
  if (spans.empty()) std::cout << "    (no spans)\n";
  for (const auto& s : spans) {
    char score[16];
    std::snprintf(score, sizeof score, "%.2f", s["score"].get<double>());
    std::cout << "    " << s["label"].get<std::string>() << "  " << s["text"].get<std::string>()
              << "  (" << score << ")\n";
  }
  const size_t truncated = out.value("truncated_words", size_t{0});
  if (truncated)
    std::cout << "    (" << truncated << " words beyond the model's length not tagged)\n";
}

int run_tag(const std::vector<std::string>& args) {
  ArgParser p("tag", "-m MODEL [--input FILE] [--probs] [--stride N]");
  p.option("model", "kiln model file with a token-classification head", "-m")
      .option("input", "JSON lines with \"text\" or \"words\", or plain text lines; - for stdin",
              "-i", "-")
      .flag("probs", "add \"probs\": one {label: probability} map per word")
      .option("stride",
              "tag long inputs in overlapping windows sharing N tokens (default: truncate)", "",
              "-1")
      .option("batch-size", "windows per forward pass", "", "16")
      .option("threads", "worker threads (default: all cores)", "", "0")
      .option("format", "jsonl (one JSON object per input) or text (a short readable summary)", "",
              "jsonl");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  set_num_threads(static_cast<int>(p.get_int("threads")));
  const int64_t stride = p.get_int("stride");
  const std::string format = p.get("format");
  if (format != "jsonl" && format != "text")
    throw UsageError("--format must be jsonl or text, got '" + format + "'");
  const LoadedModel m = load_model(p.get("model"), {kTask, "kiln tag", /*need_tokenizer=*/true});

  train::TaskSetup setup;
  // A stride wider than the model's window is a usage error.
  const auto predictor =
      make_predictor(m, kTask, {{"probs", p.get_flag("probs")}, {"stride", stride}}, setup);

  auto reader = data::RecordReader::open(p.get("input"), data::Format::Jsonl);
  StreamSink sink;
  sink.write = [&](size_t index, const data::Record&, const nlohmann::ordered_json& out) {
    if (format == "text") {
      print_text_summary(index, out);
    } else {
      std::cout << out.dump() << "\n";
    }
  };
  sink.flush = [] { std::cout.flush(); };
  // The task's predictors read the head's logits only.
  stream_predictions(*reader, *predictor, *m.model, {batch, 0, pad_values(m.spec), {"logits"}},
                     sink);
  return 0;
}

KILN_COMMAND("tag", "label the words of texts (keyphrases, entities) with a token classifier",
             run_tag);

}  // namespace
}  // namespace kiln::cli
