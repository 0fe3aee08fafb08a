// CSV as RFC 4180 describes it, with a header line: cells separated by commas, a cell in double
// quotes may hold commas, newlines and "" (one quote). A record that spans lines is reported at
// the line where it starts. Lenient where common files need it: a quote inside an unquoted cell
// is an ordinary character, and lines may end in CRLF or LF. Strict where silence would corrupt
// data: text after a closing quote, and a quote still open at the end of input, are errors.
#pragma once

#include <string>
#include <vector>

#include "data/stream_reader.h"
#include "data/table_columns.h"

namespace kiln::data {

class CsvReader final : public StreamReader {
 public:
  using StreamReader::StreamReader;

 private:
  size_t assemble(std::string_view bytes, bool& complete) override;
  bool finish() override;
  std::optional<nlohmann::json> convert(const std::string& where) override;
  size_t record_memory() const override;

  void end_cell();
  // The first problem in the record, reported when it is converted (ready() must not throw).
  void fail(std::string message);
  void reset();

  enum class State {
    kCellStart,      // before a cell's first character
    kUnquoted,       // inside a cell that did not start with a quote
    kQuoted,         // inside a quoted cell
    kQuoteInQuoted,  // just after a quote inside a quoted cell: "" (a quote) or the closing quote
  };
  State state_ = State::kCellStart;
  bool started_ = false;  // some byte of this record was taken
  bool quoted_any_ = false;
  std::string cell_;
  std::vector<std::string> cells_;
  std::string error_;
  TableColumns columns_;
};

}  // namespace kiln::data
