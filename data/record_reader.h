// Input records for training, evaluation and inference, read one at a time (never a whole file in
// memory). Formats:
//   jsonl  one JSON object per line; a line that does not start with '{' is plain text, taken as
//          {"text": line} (so `echo hello | kiln classify` works) -- except a line that parses as
//          a JSON array, which is an error
//   csv    RFC 4180 with a header line (quoted fields, "" escapes, newlines inside quotes)
//   tsv    tab-separated with a header line (no quoting: '"' is an ordinary character)
//   text   every line is {"text": line}
// A UTF-8 byte-order mark at the start of a file is skipped. Empty lines are skipped; CRLF line
// endings are read as LF. Every error (malformed JSON, a row with the wrong number of columns, an
// unterminated quote, a missing field) names the source and the line where the record starts:
// "train.jsonl:12: ...". Implementation: data/stream_reader.h (shared machinery), line_reader.h
// (jsonl, tsv, text), csv_reader.h.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace kiln::data {

enum class Format { Auto, Jsonl, Csv, Tsv, Text };

// An error in one data record (malformed JSON, a row with the wrong number of cells, a bad quote)
// after which the reader can go on with the next record, so that a consumer may report the record
// and continue (`kiln classify --skip-bad-lines`). Other errors (a file that cannot be read, a bad
// header line, without which no later row can be read right) are plain kiln::Error.
class RecordError : public Error {
 public:
  using Error::Error;
};

// "auto", "jsonl", "csv", "tsv", "text"; throws kiln::Error listing them otherwise.
Format parse_format(const std::string& name);
// Auto resolved from the file name: .csv, .tsv/.tab, .txt -> text, anything else (and stdin) jsonl.
Format format_for_path(const std::string& path, Format requested);

struct Record {
  nlohmann::json fields;  // a JSON object; CSV/TSV cells are strings
  std::string source;     // file name, or "<stdin>"
  size_t line = 0;        // 1-based line where the record starts

  // "source:line: " prefix for error messages.
  std::string where() const;
  // Field accessors whose errors name source:line and the field (a missing field's error also
  // lists the fields the record has).
  const nlohmann::json& field(const std::string& name) const;
  std::string string_field(const std::string& name) const;
  bool has(const std::string& name) const;
};

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // path "-" (or empty) reads standard input.
  static std::unique_ptr<RecordReader> open(const std::string& path, Format format = Format::Auto);

  // The next record; nullopt at the end of input. Blocks until a whole record is read.
  virtual std::optional<Record> next() = 0;
  // True when next() would return without waiting for more input (a whole record is buffered, or
  // the input has ended): streaming consumers process what they hold when this is false.
  virtual bool ready() = 0;
  virtual const std::string& name() const = 0;
};

// Field mapping: which input field holds what. Commands fill it from --text-field and friends.
struct FieldMap {
  std::string text = "text";
  std::string pair = "pair";
  std::string label = "label";
  std::string words = "words";
};

// Dataset fingerprint recorded in run manifests: the file's sha256 (hex).
std::string fingerprint(const std::string& path);

}  // namespace kiln::data
