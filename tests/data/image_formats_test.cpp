// Every colour type the decoder converts, byte for byte against Pillow 9.4's
// Image.open(f).convert("RGB"): gray / CMYK / 4:2:0 / progressive JPEGs; 1-, 4-, 8- and 16-bit
// gray, gray + alpha, RGBA, 16-bit RGB, palette (with tRNS) and Adam7-interlaced PNGs. The files
// and their expected sha256 are in pil_formats/ (made by pil_formats.py).
#include <gtest/gtest.h>

#include "core/sha256.h"
#include "data/image_decode.h"
#include "tests/data/image_test_support.h"

namespace kiln::data {
namespace {

TEST(ImageFormats, EveryColourTypeConvertsAsPil) {
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/data/pil_formats/";
  int checked = 0;
  for (const auto& row : testing::fixture_rows("pil_formats/expected.txt")) {
    ASSERT_EQ(row.size(), 3u);
    const Image image = decode_image_file(dir + row[2]);
    EXPECT_EQ(sha256_hex({reinterpret_cast<const char*>(image.rgb.data()), image.rgb.size()}),
              row[0])
        << row[2] << " (PIL mode " << row[1] << ") converts differently from PIL";
    ++checked;
  }
  EXPECT_EQ(checked, 14);
}

}  // namespace
}  // namespace kiln::data
