// The input side that `kiln tag` and `kiln classify` share: the input file and its format, and
// what happens at a bad line. Without --skip-bad-lines a bad line stops the command with an error
// naming source:line (exit 1), after the output of every line before it has been written; with
// it, each bad line is a warning on stderr, the rest is processed, a last stderr line counts the
// skipped lines, and the exit status is 0.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "data/record_reader.h"
#include "tools/args.h"
#include "tools/predict_stream.h"

namespace kiln::cli {

// Help text for --input: the formats and the fields passed through to the output.
std::string stream_input_help(const std::string& fields);

// Declares --input (-i), --input-format and --skip-bad-lines.
void declare_stream_input_flags(ArgParser& p, const std::string& fields);

// Opens --input in --input-format (auto: by the file's extension, see data/record_reader.h); an
// unknown format name is a UsageError.
std::unique_ptr<data::RecordReader> open_stream_input(const ArgParser& p);

// Counts and reports the lines --skip-bad-lines skips.
class BadLines {
 public:
  BadLines(std::string command, const ArgParser& p);
  // Sets sink.skip when --skip-bad-lines was given.
  void attach(StreamSink& sink);
  // The summary line on stderr, when a line was skipped.
  void finish(size_t written) const;
  size_t skipped() const { return skipped_; }

 private:
  std::string command_;
  bool skip_ = false;
  size_t skipped_ = 0;
};

}  // namespace kiln::cli
