#include "core/io/text_escape.h"

#include <gtest/gtest.h>

namespace kiln::io {
namespace {

TEST(EscapeForDisplay, PassesPrintableAsciiAndUtf8) {
  EXPECT_EQ(escape_for_display("bert.embeddings.weight"), "bert.embeddings.weight");
  EXPECT_EQ(escape_for_display("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(EscapeForDisplay, EscapesControlsC1AndInvalidUtf8) {
  EXPECT_EQ(escape_for_display("a\nb\x1b[31m\t\r"), "a\\nb\\x1b[31m\\t\\r");
  EXPECT_EQ(escape_for_display("\x7f"), "\\x7f");
  EXPECT_EQ(escape_for_display("\xc2\x9b"), "\\xc2\\x9b");           // C1 CSI
  EXPECT_EQ(escape_for_display("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_for_display("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(escape_for_display("\xe2\x82"), "\\xe2\\x82");           // cut sequence
  EXPECT_EQ(escape_for_display(std::string("a\0b", 3)), "a\\x00b");
}

TEST(EscapeForDisplay, CutsLongTextWithItsLength) {
  const std::string s(1000, 'x');
  const std::string out = escape_for_display(s, 10);
  EXPECT_EQ(out, std::string(10, 'x') + "... (1000 bytes)");
  EXPECT_EQ(escape_for_display(s, 0), s);
  EXPECT_EQ(escape_for_display("short", 10), "short");
}

}  // namespace
}  // namespace kiln::io
