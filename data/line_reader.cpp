#include "data/line_reader.h"

#include <cstring>

#include "core/error.h"

namespace kiln::data {

namespace {

// A line this long or longer is not kept as the next line's buffer: one huge line must not pin
// its memory for the rest of the input.
constexpr size_t kKeepLineCapacity = 1 << 20;

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

}  // namespace

size_t LineReader::assemble(std::string_view bytes, bool& complete) {
  const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
  size_t n = nl ? static_cast<size_t>(static_cast<const char*>(nl) - bytes.data()) : bytes.size();
  line_.append(bytes.data(), n);
  if (!nl) return n;
  complete = complete_ = true;
  return n + 1;
}

bool LineReader::finish() {
  return complete_ = !line_.empty();
}

std::optional<nlohmann::json> LineReader::convert(const std::string& where) {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Reset before converting: a conversion error must not leave this line behind for the next.
  struct Reset {
    LineReader& r;
    ~Reset() {
      r.complete_ = false;
      if (r.line_.capacity() >= kKeepLineCapacity) {
        std::string().swap(r.line_);
      } else {
        r.line_.clear();
      }
    }
  } reset{*this};
  return convert_line(line, where);
}

std::optional<nlohmann::json> JsonlReader::convert_line(std::string_view line,
                                                        const std::string& where) {
  if (is_blank(line)) return std::nullopt;
  char first = line[line.find_first_not_of(" \t")];
  if (first == '[') {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) throw RecordError(where + "expected a JSON object, found an array");
  }
  if (first != '{') return nlohmann::json{{"text", std::string(line)}};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw RecordError(where + "malformed JSON line (" + e.what() + ")");
  }
  return j;  // an object: the line starts with '{'
}

std::optional<nlohmann::json> TextReader::convert_line(std::string_view line,
                                                       const std::string& where) {
  if (is_blank(line)) return std::nullopt;
  return nlohmann::json{{"text", std::string(line)}};
}

std::optional<nlohmann::json> TsvReader::convert_line(std::string_view line,
                                                      const std::string& where) {
  if (line.empty()) return std::nullopt;
  std::vector<std::string> cells;
  for (size_t start = 0;;) {
    size_t tab = line.find('\t', start);
    cells.emplace_back(line.substr(start, tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  if (!columns_.has_header()) {
    columns_.set_header(std::move(cells), where);
    return std::nullopt;
  }
  return columns_.row(cells, where);
}

}  // namespace kiln::data
