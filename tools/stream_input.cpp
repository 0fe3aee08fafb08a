#include "tools/stream_input.h"

#include <iostream>

#include "core/error.h"
#include "tools/command.h"

namespace kiln::cli {

std::string stream_input_help(const std::string& fields) {
  return "input records, - for stdin: JSON lines with " + fields +
         ", where a line not starting with '{' is plain text; CSV or TSV with a header line; or "
         "text lines. Other input fields pass through to the output line, before kiln's fields; an "
         "input "
         "field named like one of kiln's (e.g. a gold \"label\") is kept as \"input_<name>\"";
}

void declare_stream_input_flags(ArgParser& p, const std::string& fields) {
  p.option("input", stream_input_help(fields), "-i", "-")
      .option("input-format",
              "auto (by extension: .csv, .tsv/.tab, .txt as text lines, anything else and stdin as "
              "JSON lines), jsonl, csv, tsv or text",
              "", "auto")
      .flag("skip-bad-lines",
            "warn about a bad input line (malformed JSON, a missing or mistyped field) on stderr "
            "and go on (exit 0, the skipped lines counted at the end); without it a bad line is an "
            "error naming it (exit 1), after the output of the lines before it");
}

std::unique_ptr<data::RecordReader> open_stream_input(const ArgParser& p) {
  data::Format format;
  try {
    format = data::parse_format(p.get("input-format"));
  } catch (const Error& e) {
    throw UsageError(std::string("--input-format: ") + e.what());
  }
  return data::RecordReader::open(p.get("input"), format);
}

BadLines::BadLines(std::string command, const ArgParser& p)
    : command_(std::move(command)), skip_(p.get_flag("skip-bad-lines")) {}

void BadLines::attach(StreamSink& sink) {
  if (!skip_) return;
  sink.skip = [this](const std::string& error) {
    ++skipped_;
    std::cerr << command_ << ": warning: " << error << " (line skipped)\n";
  };
}

void BadLines::finish(size_t written) const {
  if (skipped_ == 0) return;
  std::cerr << command_ << ": skipped " << skipped_ << " bad input line"
            << (skipped_ == 1 ? "" : "s") << " (--skip-bad-lines); " << written << " written\n";
}

}  // namespace kiln::cli
