// RecordReader::open (picking the reader for a format) and the dataset fingerprint.
#include "core/error.h"
#include "core/sha256.h"
#include "data/csv_reader.h"
#include "data/line_reader.h"
#include "data/record_reader.h"

namespace kiln::data {

std::unique_ptr<RecordReader> RecordReader::open(const std::string& path, Format format) {
  switch (format_for_path(path, format)) {
    case Format::Csv:
      return std::make_unique<CsvReader>(path);
    case Format::Tsv:
      return std::make_unique<TsvReader>(path);
    case Format::Text:
      return std::make_unique<TextReader>(path);
    case Format::Auto:
    case Format::Jsonl:
      break;
  }
  return std::make_unique<JsonlReader>(path);
}

std::string fingerprint(const std::string& path) {
  KILN_CHECK(!path.empty() && path != "-",
             "standard input has no fingerprint: pass the data as a file to record its sha256");
  return sha256_file(path);
}

}  // namespace kiln::data
