#include "data/csv_reader.h"

#include "core/error.h"

namespace kiln::data {

void CsvReader::end_cell() {
  cells_.push_back(std::move(cell_));
  cell_.clear();
}

void CsvReader::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

size_t CsvReader::assemble(std::string_view bytes, bool& complete) {
  if (!bytes.empty()) started_ = true;
  size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    switch (state_) {
      case State::kCellStart:
        if (c == '"') {
          state_ = State::kQuoted;
          quoted_any_ = true;
          ++i;
          continue;
        }
        state_ = State::kUnquoted;
        continue;  // the same character, as the start of an unquoted cell
      case State::kUnquoted: {
        size_t stop = bytes.find_first_of(",\n", i);
        if (stop == std::string_view::npos) stop = bytes.size();
        cell_.append(bytes.substr(i, stop - i));
        i = stop;
        if (i == bytes.size()) continue;
        if (bytes[i] == '\n' && !cell_.empty() && cell_.back() == '\r') cell_.pop_back();
        end_cell();
        state_ = State::kCellStart;
        if (bytes[i++] == '\n') {
          complete = true;
          return i;
        }
        continue;
      }
      case State::kQuoted: {
        size_t quote = bytes.find('"', i);
        if (quote == std::string_view::npos) quote = bytes.size();
        cell_.append(bytes.substr(i, quote - i));
        i = quote;
        if (i < bytes.size()) {
          state_ = State::kQuoteInQuoted;
          ++i;
        }
        continue;
      }
      case State::kQuoteInQuoted:
        ++i;
        if (c == '"') {
          cell_ += '"';
          state_ = State::kQuoted;
        } else if (c == ',' || c == '\n') {
          end_cell();
          state_ = State::kCellStart;
          if (c == '\n') {
            complete = true;
            return i;
          }
        } else if (c != '\r') {  // "...",\r\n: the CR of a CRLF line ending
          fail("unexpected character after the closing quote of cell " +
               std::to_string(cells_.size() + 1));
          cell_ += c;
          state_ = State::kUnquoted;
        }
        continue;
    }
  }
  return i;
}

bool CsvReader::finish() {
  if (!started_) return false;
  if (state_ == State::kQuoted) {
    fail("unterminated quoted cell " + std::to_string(cells_.size() + 1) +
         " (the input ends inside it)");
  }
  end_cell();
  return true;
}

void CsvReader::reset() {
  state_ = State::kCellStart;
  started_ = quoted_any_ = false;
  cell_.clear();
  cells_.clear();
  error_.clear();
}

std::optional<nlohmann::json> CsvReader::convert(const std::string& where) {
  std::vector<std::string> cells = std::move(cells_);
  std::string error = std::move(error_);
  bool blank = cells.size() == 1 && cells[0].empty() && !quoted_any_;
  reset();
  if (!error.empty()) {
    // A row after the header can be skipped; a broken header leaves nothing readable after it.
    if (columns_.has_header()) throw RecordError(where + error);
    throw Error(where + error);
  }
  if (blank) return std::nullopt;
  if (!columns_.has_header()) {
    columns_.set_header(std::move(cells), where);
    return std::nullopt;
  }
  return columns_.row(cells, where);
}

size_t CsvReader::record_memory() const {
  size_t n = cell_.capacity() + cells_.capacity() * sizeof(std::string);
  for (const auto& c : cells_) n += c.capacity();
  return n;
}

}  // namespace kiln::data
