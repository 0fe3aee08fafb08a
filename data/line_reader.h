// Readers for the formats where a record is one line: JSON lines, TSV and plain text. A line ends
// at '\n'; a '\r' before it (CRLF files) is dropped.
#pragma once

#include <string>
#include <string_view>

#include "data/stream_reader.h"
#include "data/table_columns.h"

namespace kiln::data {

class LineReader : public StreamReader {
 public:
  using StreamReader::StreamReader;

 protected:
  // The fields of one line (without its line ending); nullopt when it holds no data.
  virtual std::optional<nlohmann::json> convert_line(std::string_view line,
                                                     const std::string& where) = 0;

 private:
  size_t assemble(std::string_view bytes, bool& complete) final;
  bool finish() final;
  std::optional<nlohmann::json> convert(const std::string& where) final;
  size_t record_memory() const final { return line_.capacity(); }

  std::string line_;
  bool complete_ = false;
};

// One JSON object per line; a line that does not start with '{' or '[' (after spaces) is plain
// text, {"text": line}, so that `echo hello | kiln classify` works. A line starting with '[' is
// plain text too unless it parses as JSON, in which case it is an error: an array per line (or a
// one-line JSON array file) is a mistake to report, not text to classify. Blank lines are skipped.
class JsonlReader final : public LineReader {
 public:
  using LineReader::LineReader;

 private:
  std::optional<nlohmann::json> convert_line(std::string_view line,
                                             const std::string& where) override;
};

// Every non-blank line is {"text": line}.
class TextReader final : public LineReader {
 public:
  using LineReader::LineReader;

 private:
  std::optional<nlohmann::json> convert_line(std::string_view line,
                                             const std::string& where) override;
};

// Tab-separated cells, the first line naming the columns. No quoting: a quote is an ordinary
// character (as in the GLUE .tsv files, whose sentences contain them). Empty lines are skipped.
class TsvReader final : public LineReader {
 public:
  using LineReader::LineReader;

 private:
  std::optional<nlohmann::json> convert_line(std::string_view line,
                                             const std::string& where) override;
  TableColumns columns_;
};

}  // namespace kiln::data
