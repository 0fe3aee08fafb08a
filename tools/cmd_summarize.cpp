// kiln summarize -m MODEL [-i FILE] [--format jsonl|text] [--stream] [generation flags]
// One JSON line per input: the input's other fields, then {"summary", "ids", "score"} ("score"
// for beam search: transformers' sequences_scores), or with --num-return-sequences N
// {"summaries": [{"summary", "ids", "score"}, ...]}. "ids" is the sequence as generate() returns
// it: the decoder start token first, no padding. Inputs: "text", "reviews"/"documents" (a list)
// or "input_ids" (train/summarization_source.h); plain text lines work too. Lines are written
// as soon as their batch is generated. With --stream (greedy search or sampling) the summary text
// is printed as it is generated instead, one line per input. --format text prints, per input,
// its id (when it has one) and the start of its text, then each summary on its own line.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "nn/generation.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/generation_flags.h"
#include "tools/model_loading.h"
#include "tools/output.h"
#include "tools/stream_input.h"
#include "tools/text_preview.h"
#include "tools/threads.h"
#include "train/pass_through.h"
#include "train/summarization_source.h"

namespace kiln::cli {
namespace {

struct PendingInput {
  data::Record record;
  train::EncodedSource source;
};

nlohmann::ordered_json sequence_json(const tok::Tokenizer& tok, const nn::GeneratedSequence& g) {
  nlohmann::ordered_json j;
  j["summary"] = train::decode_summary(tok, g.ids);
  j["ids"] = g.ids;
  if (!std::isnan(g.score)) j["score"] = g.score;
  return j;
}

// --format text: "[n] id: start of the input" (or "N documents: start of the first"), then each
// summary indented, with its beam score when there is one.
void print_text_output(size_t index, const data::Record& record, const std::string& text_field,
                       const std::vector<nn::GeneratedSequence>& sequences,
                       const tok::Tokenizer& tok) {
  std::string label = "[" + std::to_string(index + 1) + "] ";
  if (record.fields.is_object() && record.fields.contains("id")) {
    const auto& id = record.fields["id"];
    label += (id.is_string() ? id.get<std::string>() : id.dump()) + ": ";
  }
  std::string preview;
  const nlohmann::json& f = record.fields;
  if (f.is_object() && f.contains(text_field) && f[text_field].is_string()) {
    preview = text_preview(f[text_field].get<std::string>(), 90);
  } else {
    for (const char* list : {"reviews", "documents"}) {
      if (!f.is_object() || !f.contains(list) || !f[list].is_array() || f[list].empty()) continue;
      const auto& first = f[list][0];
      preview = std::to_string(f[list].size()) + " documents: " +
                (first.is_string() ? text_preview(first.get<std::string>(), 70) : "");
      break;
    }
    if (preview.empty() && f.is_object() && f.contains("input_ids") && f["input_ids"].is_array())
      preview = std::to_string(f["input_ids"].size()) + " input ids";
  }
  std::cout << label << preview << "\n";
  for (size_t k = 0; k < sequences.size(); ++k) {
    std::cout << "    ";
    if (sequences.size() > 1) std::cout << k + 1 << ". ";
    std::cout << train::decode_summary(tok, sequences[k].ids);
    if (!std::isnan(sequences[k].score)) {
      char score[32];
      std::snprintf(score, sizeof score, "  (score %.3f)", sequences[k].score);
      std::cout << score;
    }
    std::cout << "\n";
  }
}

// Prints a sequence's text as it grows: each step decodes the ids so far and prints what was
// added, holding back a trailing partial UTF-8 character (decoded as U+FFFD) until it completes.
class TextStreamer {
 public:
  explicit TextStreamer(const tok::Tokenizer& tok) : tok_(tok) {}
  void add(int64_t token) {
    ids_.push_back(static_cast<int32_t>(token));
    const std::string text = tok_.decode(ids_);
    static const std::string kReplacement = "\xEF\xBF\xBD";
    const bool partial = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
    if (partial || text.size() < printed_ || text.compare(0, printed_, text, 0, printed_) != 0)
      return;
    std::cout << text.substr(printed_);
    std::cout.flush();
    printed_ = text.size();
  }
  void finish() {
    std::cout << "\n";
    flush_stdout_or_throw();
    ids_.clear();
    printed_ = 0;
  }

 private:
  const tok::Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t printed_ = 0;
};

int run_summarize(const std::vector<std::string>& args) {
  ArgParser p("summarize",
              "-m MODEL [-i FILE] [--format jsonl|text] [--stream] [generation flags]");
  p.option("model", "kiln model file of an encoder-decoder with an LM head (BART)", "-m");
  declare_stream_input_flags(p,
                             "\"text\", \"reviews\" or \"documents\" (a list of texts), or "
                             "\"input_ids\"");
  p.option("text-field", "input field holding the text", "", "text")
      .option("k-top-longest", "multi-document input: keep the K longest documents (by tokens)", "",
              "0")
      .option("doc-sep",
              "multi-document input: the separator token between documents (default: the "
              "tokenizer's <doc-sep> where it has one, as PRIMERA, otherwise </s>)")
      .option("max-source-length",
              "longest input in tokens (default: the model's positions); longer inputs are cut, "
              "said once on stderr")
      .flag("stream", "print each summary's text as it is generated (greedy search or sampling)")
      .option("format",
              "jsonl (one JSON object per input) or text (each input's id and start, then its "
              "summaries, for reading)",
              "", "jsonl")
      .option("batch-size", "inputs generated together", "", "8")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  declare_generation_flags(p);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const int64_t batch_size = p.get_int("batch-size");
  if (batch_size < 1) throw UsageError("--batch-size must be at least 1");
  apply_threads_flag(p);
  const LoadedModel m =
      load_model(p.get("model"), {"", "kiln summarize", /*need_tokenizer=*/true,
                                  /*pack_for_inference=*/true, !p.get_flag("no-verify")});
  const auto* lm = dynamic_cast<const nn::Seq2SeqLM*>(m.model.get());
  const std::string arch = m.spec.architecture;
  const bool has_lm_head =
      arch.size() >= 24 && arch.compare(arch.size() - 24, 24, "ForConditionalGeneration") == 0;
  KILN_CHECK(lm && has_lm_head, m.path, ": this model is a ",
             arch.empty() ? m.spec.model_type : arch,
             "; kiln summarize needs an encoder-decoder with an LM head "
             "(BartForConditionalGeneration)");
  const tok::Tokenizer& tok = *m.tokenizer;
  const nn::GenerationConfig config = apply_generation_flags(
      p, nn::model_generation_config(m.config, m.generation_config, "summarization", m.path),
      lm->vocab_size());
  const std::string format = p.get("format");
  if (format != "jsonl" && format != "text")
    throw UsageError("--format must be jsonl or text, got '" + format + "'");
  const bool stream = p.get_flag("stream");
  if (stream && (config.num_beams > 1 || config.num_return_sequences > 1))
    throw UsageError(
        "--stream prints one sequence as it is generated: it needs greedy search or "
        "sampling (--num-beams 1) and one sequence per input");

  train::SourceOptions source;
  source.text_field = p.get("text-field");
  source.k_top_longest = p.get_int("k-top-longest");
  if (source.k_top_longest < 0) throw UsageError("--k-top-longest must not be negative");
  source.max_source_length = m.spec.max_tokens;
  if (p.given("max-source-length")) {
    source.max_source_length = p.get_int("max-source-length");
    if (source.max_source_length < 2 ||
        (m.spec.max_tokens > 0 && source.max_source_length > m.spec.max_tokens))
      throw UsageError("--max-source-length must be between 2 and the model's " +
                       std::to_string(m.spec.max_tokens) + " positions");
  }
  try {
    source.doc_sep_id = train::doc_sep_id(tok, p.get_optional("doc-sep").value_or(""));
  } catch (const Error& e) {
    throw UsageError(std::string("--doc-sep: ") + e.what());
  }
  source.vocab_size = lm->vocab_size();

  auto reader = open_stream_input(p);
  // --skip-bad-lines as tag and classify have it (the same warnings and final count).
  BadLines bad_lines("kiln summarize", p);
  StreamSink bad_line_sink;
  bad_lines.attach(bad_line_sink);
  size_t written = 0;
  bool said_truncated = false;
  std::vector<PendingInput> batch;
  TextStreamer streamer(tok);
  const std::vector<std::string> consumed = {source.text_field, "reviews", "documents",
                                             "input_ids"};

  auto run_batch = [&] {
    if (batch.empty()) return;
    nn::GenerationHooks hooks;
    if (stream)
      hooks.on_token = [&](int64_t, int64_t, int64_t token) {
        if (!config.is_eos(token)) streamer.add(token);
      };
    std::vector<const train::EncodedSource*> sources;
    for (const auto& in : batch) sources.push_back(&in.source);
    const auto results =
        nn::generate(*lm, train::source_batch(sources, m.spec), config, hooks, written);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (stream) {
        streamer.finish();
        continue;
      }
      if (format == "text") {
        print_text_output(written + i, batch[i].record, source.text_field, results[i], tok);
        continue;
      }
      nlohmann::ordered_json out;
      if (config.num_return_sequences == 1) {
        out = sequence_json(tok, results[i][0]);
      } else {
        out["summaries"] = nlohmann::ordered_json::array();
        for (const auto& g : results[i]) out["summaries"].push_back(sequence_json(tok, g));
      }
      std::cout << train::with_input_fields(batch[i].record, consumed, std::move(out))
                       .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                << "\n";
    }
    if (!stream) flush_stdout_or_throw();
    written += batch.size();
    batch.clear();
  };

  const int64_t per_batch = stream ? 1 : batch_size;
  for (;;) {
    std::optional<data::Record> record;
    try {
      record = reader->next();
      if (!record) break;
      PendingInput in{*record, train::encode_source(*record, tok, source)};
      if (in.source.truncated && !said_truncated) {
        std::cerr << "kiln summarize: " << record->where() << "the input is longer than "
                  << source.max_source_length
                  << " tokens and was cut (said once; --max-source-length)\n";
        said_truncated = true;
      }
      batch.push_back(std::move(in));
    } catch (const Error& e) {
      if (!bad_line_sink.skip) {
        run_batch();  // the lines before the bad one are written first
        throw;
      }
      bad_line_sink.skip(e.what());
      continue;
    }
    if (static_cast<int64_t>(batch.size()) >= per_batch || !reader->ready()) run_batch();
  }
  run_batch();
  bad_lines.finish(written);
  return 0;
}

KILN_COMMAND("summarize", "summarize texts or document groups with an encoder-decoder (BART)",
             run_summarize);

}  // namespace
}  // namespace kiln::cli
