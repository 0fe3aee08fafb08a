// GPT-2's reversible byte <-> character map: every byte gets a printable character so that
// byte-level BPE vocabularies are ordinary strings ("Ġ" is the space byte).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::tok {

// Character (code point) standing for each byte.
const std::array<char32_t, 256>& byte_to_char();

// Appends the byte-level spelling of `bytes` (each byte as its character, UTF-8 encoded).
void append_byte_level(std::string& out, std::string_view bytes);

// Byte a byte-level character stands for, or -1 when cp is not one of the 256 characters.
int char_to_byte(char32_t cp);

}  // namespace kiln::tok
