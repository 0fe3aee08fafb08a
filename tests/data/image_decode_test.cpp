// JPEG/PNG decoding against Pillow 9.4: byte-exact on all 70 HAM10000 sample JPEGs (sha256 of
// PIL's convert("RGB") bytes in pil_rgb_sha256.txt, made by pil_rgb_sha256.py) and on the 5 full
// decodes stored in refs/image-preprocess; gray, palette, alpha and 16-bit PNGs as PIL converts
// them.
#include "data/image_decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "data/image_encode.h"
#include "tests/data/image_test_support.h"

namespace kiln::data {
namespace {

using testing::kHam;
using testing::kPreprocess;

TEST(ImageDecode, AllSampleJpegsMatchPilByteForByte) {
  int checked = 0;
  for (const auto& row : testing::fixture_rows("pil_rgb_sha256.txt")) {
    ASSERT_EQ(row.size(), 4u);
    const std::string& file = row[3];
    const Image image = decode_image_file(kHam + file);
    EXPECT_EQ(image.width, std::stoll(row[1])) << file;
    EXPECT_EQ(image.height, std::stoll(row[2])) << file;
    EXPECT_EQ(sha256_hex({reinterpret_cast<const char*>(image.rgb.data()), image.rgb.size()}),
              row[0])
        << file << " decodes differently from PIL";
    ++checked;
  }
  EXPECT_EQ(checked, 70);
}

TEST(ImageDecode, MatchesStoredPilDecodesIncludingSubsampledChroma) {
  const auto refs = io::SafetensorsFile::open(kPreprocess);
  const auto meta = nlohmann::json::parse(
      testing::read_bytes(std::string(KILN_SHARED_DIR) + "/refs/image-preprocess/reference.json"));
  for (size_t i = 0; i < meta["images"].size(); ++i) {
    const std::string file = meta["images"][i]["file"];
    const Image expected = testing::reference_image(refs, "img" + std::to_string(i) + ".rgb_u8");
    const Image got = decode_image_file(kHam + file);
    EXPECT_EQ(testing::max_abs_diff(got, expected), 0) << file;
  }
}

// A small RGB test card: gradients in every channel.
Image test_card(int64_t w, int64_t h) {
  Image image(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 255 / (w - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (h - 1));
      p[2] = static_cast<uint8_t>((x + y) * 7);
    }
  return image;
}

TEST(ImageDecode, RgbPngIsLossless) {
  const Image card = test_card(37, 23);
  const auto png = encode_png(card.rgb.data(), card.width, card.height, PixelLayout::RGB);
  EXPECT_EQ(decode_image(png, "card.png"), card);
}

TEST(ImageDecode, AlphaIsDroppedNotComposited) {
  const Image card = test_card(9, 5);
  std::vector<uint8_t> rgba;
  for (size_t i = 0; i < card.rgb.size(); i += 3)
    rgba.insert(rgba.end(), {card.rgb[i], card.rgb[i + 1], card.rgb[i + 2], uint8_t(i % 256)});
  EXPECT_EQ(decode_image(encode_png(rgba.data(), 9, 5, PixelLayout::RGBA), "a.png"), card);
}

TEST(ImageDecode, GrayPngAndJpegBecomeEqualChannels) {
  std::vector<uint8_t> gray(16 * 8);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i * 2);
  const Image from_png = decode_image(encode_png(gray.data(), 16, 8, PixelLayout::Gray), "g.png");
  for (size_t i = 0; i < gray.size(); ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(from_png.rgb[3 * i + c], gray[i]);
  const Image from_jpeg =
      decode_image(encode_jpeg(gray.data(), 16, 8, PixelLayout::Gray, 100), "g.jpg");
  for (size_t i = 0; i < gray.size(); ++i) {
    EXPECT_EQ(from_jpeg.rgb[3 * i], from_jpeg.rgb[3 * i + 1]);
    EXPECT_EQ(from_jpeg.rgb[3 * i], from_jpeg.rgb[3 * i + 2]);
    EXPECT_NEAR(from_jpeg.rgb[3 * i], gray[i], 2);
  }
}

TEST(ImageDecode, CmykJpegConvertsAsPil) {
  // Flat colours survive JPEG almost exactly. Stored (inverted) C, M, Y, K = 155, 205, 55, 225,
  // i.e. C = 100, M = 50, Y = 200, K = 30, which PIL's convert("RGB") turns into (137, 181, 49).
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < 16 * 16; ++i) cmyk.insert(cmyk.end(), {155, 205, 55, 225});
  const Image rgb = decode_image(encode_jpeg(cmyk.data(), 16, 16, PixelLayout::CMYK, 100), "c.jpg");
  for (size_t i = 0; i < rgb.rgb.size(); i += 3) {
    EXPECT_NEAR(rgb.rgb[i], 137, 1);
    EXPECT_NEAR(rgb.rgb[i + 1], 181, 1);
    EXPECT_NEAR(rgb.rgb[i + 2], 49, 1);
  }
}

}  // namespace
}  // namespace kiln::data
