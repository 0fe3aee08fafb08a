#include "data/stream_reader.h"

#include <algorithm>
#include <utility>

namespace kiln::data {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}  // namespace

StreamReader::StreamReader(const std::string& path) : source_(path) {}

bool StreamReader::skip_bom() {
  std::string_view bytes = source_.available();
  size_t n = std::min(bytes.size(), kBom.size());
  if (bytes.substr(0, n) != kBom.substr(0, n)) {
    bom_checked_ = true;  // not a BOM
  } else if (n == kBom.size()) {
    source_.take(n);
    bom_checked_ = true;
  } else if (source_.at_end()) {
    bom_checked_ = true;  // a truncated BOM is data (and will fail to parse, naming line 1)
  }
  return bom_checked_;
}

bool StreamReader::take_record() {
  std::string where = source_.name() + ":" + std::to_string(record_line_) + ": ";
  size_t line = record_line_;
  record_line_ = line_;
  std::optional<nlohmann::json> fields;
  try {
    fields = convert(where);
  } catch (...) {
    error_ = std::current_exception();
    return true;
  }
  if (!fields) return false;
  ready_ = Record{std::move(*fields), source_.name(), line};
  return true;
}

bool StreamReader::pull(bool may_wait) {
  if (may_wait) {
    source_.fill();
    return true;
  }
  return source_.fill_available();
}

StreamReader::Step StreamReader::advance(bool may_wait) {
  while (!ended_) {
    if (!bom_checked_ && !skip_bom()) {
      if (!pull(may_wait)) return Step::kStarved;
      continue;
    }
    std::string_view bytes = source_.available();
    bool complete = false;
    size_t n = assemble(bytes, complete);
    line_ += static_cast<size_t>(std::count(bytes.begin(), bytes.begin() + n, '\n'));
    source_.take(n);
    if (complete) {
      if (take_record()) return Step::kRecord;
      continue;
    }
    if (source_.at_end()) {
      if (finish() && take_record()) return Step::kRecord;
      ended_ = true;
      break;
    }
    if (!pull(may_wait)) return Step::kStarved;
  }
  return Step::kEnd;
}

std::optional<Record> StreamReader::next() {
  if (!ready_ && !error_) advance(/*may_wait=*/true);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  return std::exchange(ready_, std::nullopt);
}

bool StreamReader::ready() {
  if (ready_ || error_ || ended_) return true;
  return advance(/*may_wait=*/false) != Step::kStarved;
}

}  // namespace kiln::data
