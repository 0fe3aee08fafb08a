// The start of a text for human-readable output (`--format text` of tag and summarize).
#pragma once

#include <string>

namespace kiln::cli {

// The first max_bytes of text, never cutting a UTF-8 character in half, with "..." appended when
// anything was cut; line breaks become spaces so that a preview stays on one line.
std::string text_preview(const std::string& text, size_t max_bytes);

}  // namespace kiln::cli
