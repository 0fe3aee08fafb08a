#include <algorithm>
#include <cctype>
#include <string>

#include "core/error.h"
#include "data/record_reader.h"

namespace kiln::data {

Format parse_format(const std::string& name) {
  if (name == "auto") return Format::Auto;
  if (name == "jsonl") return Format::Jsonl;
  if (name == "csv") return Format::Csv;
  if (name == "tsv") return Format::Tsv;
  if (name == "text") return Format::Text;
  throw Error("unknown input format \"" + name + "\" (expected auto, jsonl, csv, tsv or text)");
}

Format format_for_path(const std::string& path, Format requested) {
  if (requested != Format::Auto) return requested;
  size_t dot = path.find_last_of("./");
  if (dot == std::string::npos || path[dot] != '.') return Format::Jsonl;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == "csv") return Format::Csv;
  if (ext == "tsv" || ext == "tab") return Format::Tsv;
  if (ext == "txt") return Format::Text;
  return Format::Jsonl;
}

}  // namespace kiln::data
