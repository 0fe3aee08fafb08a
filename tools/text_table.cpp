#include "tools/text_table.h"

#include <algorithm>
#include <cstdlib>

namespace kiln::cli {
namespace {

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Display width: UTF-8 continuation bytes take no column.
size_t width(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string TextTable::render() const {
  std::vector<size_t> widths(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) widths[c] = width(header_[c]);
  for (const auto& row : rows_)
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], width(row[c]));
  // A column of numbers (and "-" for none) is right-aligned, its header too.
  std::vector<bool> numeric(header_.size(), !rows_.empty());
  for (const auto& row : rows_)
    for (size_t c = 0; c < numeric.size(); ++c)
      if (c < row.size() && row[c] != "-" && !looks_numeric(row[c])) numeric[c] = false;
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < widths.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const std::string pad(widths[c] - width(cell), ' ');
      if (c) text += "  ";
      text += numeric[c] ? pad + cell : cell + (c + 1 < widths.size() ? pad : "");
    }
    out += text + "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return out;
}

}  // namespace kiln::cli
