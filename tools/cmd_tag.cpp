// kiln tag -m MODEL [--input FILE] [--probs] [--stride N]
// Token classification over words: one label per word (the prediction for the word's first
// sub-token), and spans merged from IOB2 tags with byte offsets into the input text.
// Input records carry "words" (already split, as in ../shared/data/inspec; the text is then the
// words joined by single spaces; one label comes out per word, empty ones included) or "text",
// split into words by the splitter the model's training data used (kiln.word_splitter in the
// model file; --word-splitter overrides). Output streams: each record is written as soon as its
// batch has run. Input formats, field pass-through and bad lines: tools/stream_input.h.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tokenizer/word_splitter.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"
#include "tools/output.h"
#include "tools/predict_stream.h"
#include "tools/stream_input.h"
#include "tools/text_preview.h"
#include "tools/threads.h"
#include "train/predictors.h"

namespace kiln::cli {
namespace {

constexpr const char* kTask = "token-classification";

// Human-readable output: the start of the text, then each span with its label and score.
void print_text_summary(size_t index, const nlohmann::ordered_json& out) {
  const std::string& text = out["text"].get_ref<const std::string&>();
  std::cout << "[" << index + 1 << "] " << text_preview(text, 90) << "\n";
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
  p.option("model", "kiln model file with a token-classification head", "-m");
  declare_stream_input_flags(p, "\"words\" or \"text\"");
  p.option("words-field",
           "input field holding words already split (a JSON array of strings): exactly one label "
           "per word comes out, also for an empty or blank word, which the tokenizer makes no "
           "tokens of: it is labelled \"O\" with score 0 (probs null)",
           "", "words")
      .option("text-field",
              "input field holding the text (used when a record has no words field; an array "
              "there is taken as words)",
              "", "text")
      .option("word-splitter",
              "how text is split into words: " + tok::word_splitter_names() +
                  " (default: the splitter recorded in the model file by kiln train, else "
                  "tokenizer, the model tokenizer's pre-tokenizer)")
      .flag("probs", "add \"probs\": one {label: probability} map per word")
      .option("stride",
              "tag long inputs in overlapping windows sharing N tokens (default: truncate)", "",
              "-1")
      .option("batch-size", "windows per forward pass", "", "16")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp)
      .option("format", "jsonl (one JSON object per input) or text (a short readable summary)", "",
              "jsonl");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int64_t batch = p.get_int("batch-size");
  if (batch < 1) throw UsageError("--batch-size must be at least 1");
  apply_threads_flag(p);
  const int64_t stride = p.get_int("stride");
  const std::string format = p.get("format");
  if (format != "jsonl" && format != "text")
    throw UsageError("--format must be jsonl or text, got '" + format + "'");
  const LoadedModel m = load_model(p.get("model"), {kTask, "kiln tag", /*need_tokenizer=*/true,
                                                    /*pack_for_inference=*/true,
                                                    /*verify=*/!p.get_flag("no-verify")});

  train::TaskSetup setup;
  setup.fields.words = p.get("words-field");
  setup.fields.text = p.get("text-field");
  nlohmann::json options = {{"probs", p.get_flag("probs")}, {"stride", stride}};
  if (auto s = p.get_optional("word-splitter")) options["word_splitter"] = *s;
  // A stride wider than the model's window, or an unknown splitter, is a usage error.
  const auto predictor = make_predictor(m, kTask, options, setup);

  auto reader = open_stream_input(p);
  StreamSink sink;
  BadLines bad_lines("kiln tag", p);
  bad_lines.attach(sink);
  sink.write = [&](size_t index, const data::Record&, const nlohmann::ordered_json& out) {
    if (format == "text") {
      print_text_summary(index, out);
    } else {
      // Invalid UTF-8 can only come from a passed-through CSV/TSV/text cell (the texts are
      // checked by the tokenizer): it is written as U+FFFD rather than failing the line.
      std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                << "\n";
    }
  };
  sink.flush = [] { flush_stdout_or_throw(); };  // stop at a failed write
  // The task's predictors read the head's logits only.
  const size_t written = stream_predictions(*reader, *predictor, *m.model,
                                            {batch, 0, pad_values(m.spec), {"logits"}}, sink);
  bad_lines.finish(written);
  return 0;
}

KILN_COMMAND("tag", "label the words of texts (keyphrases, entities) with a token classifier",
             run_tag);

}  // namespace
}  // namespace kiln::cli
