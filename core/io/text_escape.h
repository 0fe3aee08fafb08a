// Makes untrusted text (tensor names, metadata from a file) safe to put in an error message or on a
// terminal: control characters and invalid UTF-8 become \xNN escapes, so a hostile file cannot
// inject terminal escape sequences or break a log line, and long text is cut with a length note.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::io {

// Printable ASCII and well-formed UTF-8 (minus C1 controls) pass through; newline, tab and carriage
// return become \n, \t, \r; every other byte is written as \xNN. If the input is longer than
// max_bytes, the output holds about max_bytes of it followed by "... (N bytes)". max_bytes = 0
// means no limit.
std::string escape_for_display(std::string_view s, size_t max_bytes = 0);

}  // namespace kiln::io
