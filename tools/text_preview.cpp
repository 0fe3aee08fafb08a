#include "tools/text_preview.h"

#include <algorithm>

namespace kiln::cli {

std::string text_preview(const std::string& text, size_t max_bytes) {
  std::string preview = text.substr(0, max_bytes);
  if (text.size() > max_bytes) {
    // Find where the last character starts; drop it if the cut left it incomplete.
    size_t start = preview.size();
    while (start > 0 && (static_cast<unsigned char>(preview[start - 1]) & 0xC0) == 0x80) --start;
    if (start > 0) {
      const auto lead = static_cast<unsigned char>(preview[start - 1]);
      const size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (start - 1 + length > preview.size()) preview.resize(start - 1);
    }
    preview += "...";
  }
  std::replace(preview.begin(), preview.end(), '\n', ' ');
  std::replace(preview.begin(), preview.end(), '\r', ' ');
  return preview;
}

}  // namespace kiln::cli
