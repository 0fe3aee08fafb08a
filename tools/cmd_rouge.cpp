// kiln rouge [--use-stemmer] [-i FILE] [--aggregate] [-o FILE]
// ROUGE-1/2/L/Lsum of {"prediction", "reference"} pairs, identical to Google's rouge-score 0.1.2
// (train/rouge.h). One JSON line per pair, {"rouge1": {"precision", "recall", "fmeasure"},
// "rouge2": ..., "rougeL": ..., "rougeLsum": ...} after the pair's other input fields (an "id");
// or, with --aggregate, one line with the mean of every number over the pairs. Input formats,
// field pass-through and bad lines: tools/stream_input.h.
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/io/atomic_file.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/output.h"
#include "tools/stream_input.h"
#include "train/pass_through.h"
#include "train/rouge.h"

namespace kiln::cli {
namespace {

using nlohmann::ordered_json;

ordered_json to_json(const train::RougeScore& s) {
  return {{"precision", s.precision}, {"recall", s.recall}, {"fmeasure", s.fmeasure}};
}

ordered_json to_json(const train::RougeScores& s) {
  return {{"rouge1", to_json(s.rouge1)},
          {"rouge2", to_json(s.rouge2)},
          {"rougeL", to_json(s.rougeL)},
          {"rougeLsum", to_json(s.rougeLsum)}};
}

std::string json_line(const ordered_json& j) {
  // Invalid UTF-8 can only come from a passed-through CSV/TSV/text cell: written as U+FFFD.
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

struct RougeOptions {
  std::string prediction_field, reference_field;
  bool use_stemmer = false;
  bool aggregate = false;
};

// Where the lines go: `write` takes one line; `idle` is called whenever the input has nothing
// more to give right now, so that a pipe reader gets each line as soon as it is scored.
struct LineSink {
  std::function<void(std::string_view)> write;
  std::function<void()> idle;
};

// Scores every record of `reader`; returns the number of pairs scored. A bad record (malformed,
// a missing or non-string field) goes to `skip` when set, and otherwise stops the command after
// the lines of the records before it.
size_t score_pairs(data::RecordReader& reader, const RougeOptions& options, const LineSink& out,
                   const std::function<void(const std::string&)>& skip) {
  train::RougeMean mean;
  size_t scored = 0;
  for (;;) {
    std::optional<data::Record> record;
    try {
      record = reader.next();
    } catch (const data::RecordError& e) {
      if (!skip) throw;
      skip(e.what());
      continue;
    }
    if (!record) break;
    train::RougeScores scores;
    try {
      scores =
          train::rouge_score(record->string_field(options.prediction_field),
                             record->string_field(options.reference_field), options.use_stemmer);
    } catch (const Error& e) {
      if (!skip) throw;
      skip(e.what());
      continue;
    }
    ++scored;
    if (options.aggregate) {
      mean.add(scores);
      continue;
    }
    out.write(json_line(train::with_input_fields(
        *record, {options.prediction_field, options.reference_field}, to_json(scores))));
    if (!reader.ready()) out.idle();
  }
  if (options.aggregate) {
    if (mean.count() == 0) throw Error(reader.name() + ": no pairs to aggregate");
    out.write(json_line(to_json(mean.mean())));
  }
  return scored;
}

int run_rouge(const std::vector<std::string>& args) {
  ArgParser p("rouge", "[--use-stemmer] [-i FILE] [--aggregate] [-o FILE]");
  declare_stream_input_flags(p, "\"prediction\" and \"reference\"");
  p.option("prediction-field", "input field holding the prediction (the system summary)", "",
           "prediction")
      .option("reference-field", "input field holding the reference (the gold summary)", "",
              "reference")
      .flag("use-stemmer",
            "stem tokens longer than 3 characters with NLTK's Porter stemmer, as rouge-score's "
            "use_stemmer=True (Hugging Face's summarization examples use it)")
      .flag("aggregate",
            "write one line with the mean of every precision, recall and fmeasure over all pairs "
            "instead of a line per pair")
      .option("output",
              "where to write the lines, - for standard output (a file is replaced atomically "
              "once every pair is scored)",
              "-o", "-");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const RougeOptions options{p.get("prediction-field"), p.get("reference-field"),
                             p.get_flag("use-stemmer"), p.get_flag("aggregate")};
  auto reader = open_stream_input(p);
  BadLines bad_lines("kiln rouge", p);
  StreamSink bad_line_sink;  // only its skip callback is used
  bad_lines.attach(bad_line_sink);

  size_t scored = 0;
  const std::string output = p.get("output");
  if (output == "-") {
    const LineSink out{[](std::string_view line) { std::cout << line; },
                       [] { flush_stdout_or_throw(); }};  // stop at a failed write
    scored = score_pairs(*reader, options, out, bad_line_sink.skip);
  } else {
    io::atomic_write_file(output, [&](io::FileSink& file) {
      const LineSink out{[&file](std::string_view line) { file.write(line); }, [] {}};
      scored = score_pairs(*reader, options, out, bad_line_sink.skip);
    });
  }
  bad_lines.finish(scored);
  return 0;
}

KILN_COMMAND("rouge",
             "ROUGE-1/2/L/Lsum of prediction/reference pairs, as Google's rouge-score computes it",
             run_rouge);

}  // namespace
}  // namespace kiln::cli
