// Damaged and unusual image files, made here from a real sample JPEG: each is refused with a
// kiln::Error that names the file (never a crash, an exit() from libjpeg, or a huge allocation
// from a lying header).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "core/error.h"
#include "data/image_decode.h"
#include "data/image_encode.h"
#include "data/image_resize.h"
#include "tests/common/reference_checks.h"
#include "tests/data/image_test_support.h"
#include "tests/io/io_test_util.h"

namespace kiln::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kSample = testing::kHam + "akiec/ISIC_0026083.jpg";

// The message decoding `bytes` (written to a file called `name`) fails with.
std::string decode_error(const std::vector<uint8_t>& bytes, const std::string& name,
                         std::string* path_out = nullptr) {
  io::test::TempDir dir;
  const std::string path = dir.file(name);
  testing::write_bytes(path, bytes);
  if (path_out) *path_out = path;
  try {
    decode_image_file(path);
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_THAT(message, HasSubstr(path)) << "the error must name the file";
    return message;
  }
  return "(no error)";
}

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// A real PNG: the sample image shrunk to 64x48.
std::vector<uint8_t> sample_png() {
  const Image small = resize_bilinear(decode_image_file(kSample), {64, 48});
  return encode_png(small.rgb.data(), small.width, small.height, PixelLayout::RGB);
}

// The PNG with its IHDR width and height replaced and the IHDR CRC recomputed, so that only the
// sizes are wrong.
std::vector<uint8_t> png_with_size(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = sample_png();
  put_be32(png, 16, width);  // signature 8, length 4, "IHDR" 4
  put_be32(png, 20, height);
  put_be32(png, 29, crc32(&png[12], 17));  // over "IHDR" + 13 data bytes
  return png;
}

// Offset of the height field of the JPEG's first SOF segment (FF C0..C2).
size_t jpeg_sof_height_offset(const std::vector<uint8_t>& jpeg) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] >= 0xC0 && jpeg[i + 1] <= 0xC2) return i + 5;
  ADD_FAILURE() << "no SOF marker";
  return 0;
}

TEST(ImageCorrupt, TruncatedJpegIsAnErrorNotGrayPadding) {
  std::vector<uint8_t> jpeg = testing::read_bytes(kSample);
  jpeg.resize(jpeg.size() / 2);
  EXPECT_THAT(decode_error(jpeg, "half.jpg"), HasSubstr("truncated JPEG"));
  // Missing only the end-of-image marker: PIL says "image file is truncated" too.
  std::vector<uint8_t> no_eoi = testing::read_bytes(kSample);
  no_eoi.resize(no_eoi.size() - 2);
  EXPECT_THAT(decode_error(no_eoi, "no_eoi.jpg"), HasSubstr("truncated JPEG"));
  // Bytes after the end-of-image marker are ignored, as by PIL.
  std::vector<uint8_t> trailing = testing::read_bytes(kSample);
  trailing.insert(trailing.end(), {'g', 'a', 'r', 'b', 'a', 'g', 'e'});
  EXPECT_EQ(decode_image(trailing, "trailing.jpg"), decode_image_file(kSample));
  jpeg.resize(40);  // inside the headers
  EXPECT_THAT(decode_error(jpeg, "head.jpg"), HasSubstr("JPEG"));
}

TEST(ImageCorrupt, PngWithBadCrcIsAnError) {
  std::vector<uint8_t> png = sample_png();
  png[32] ^= 0x01;  // last byte of IHDR's CRC
  EXPECT_THAT(decode_error(png, "ihdr.png"), HasSubstr("CRC"));
  png = sample_png();
  png[png.size() - 12 - 1] ^= 0x01;  // last byte of the CRC of the chunk before IEND (IDAT)
  EXPECT_THAT(decode_error(png, "idat.png"), HasSubstr("CRC"));
}

TEST(ImageCorrupt, TruncatedPngIsAnError) {
  std::vector<uint8_t> png = sample_png();
  png.resize(png.size() / 2);
  EXPECT_THAT(decode_error(png, "half.png"), HasSubstr("PNG"));
}

TEST(ImageCorrupt, ZeroSizedImagesAreErrors) {
  EXPECT_THAT(decode_error(png_with_size(0, 0), "zero.png"), HasSubstr("zero"));
  std::vector<uint8_t> jpeg = testing::read_bytes(kSample);
  const size_t at = jpeg_sof_height_offset(jpeg);
  jpeg[at] = jpeg[at + 1] = 0;  // height 0
  EXPECT_THAT(decode_error(jpeg, "zero.jpg"), HasSubstr("JPEG"));
}

TEST(ImageCorrupt, HugeHeaderSizesAreRefusedBeforeAllocating) {
  // 100k x 100k = 1e10 pixels (30 GB of RGB): refused from the header alone.
  EXPECT_THAT(decode_error(png_with_size(100000, 100000), "huge.png"),
              AllOf(HasSubstr("100000x100000"), HasSubstr("limit")));
  std::vector<uint8_t> jpeg = testing::read_bytes(kSample);
  const size_t at = jpeg_sof_height_offset(jpeg);
  // 65000 x 65000 (libjpeg-turbo itself refuses sides above 65500).
  for (size_t i = at; i < at + 4; i += 2) jpeg[i] = 0xFD, jpeg[i + 1] = 0xE8;
  EXPECT_THAT(decode_error(jpeg, "huge.jpg"), HasSubstr("limit"));
  // A caller's smaller limit applies as well.
  EXPECT_THROW(decode_image_file(kSample, DecodeLimits{600 * 450 - 1}), Error);
  EXPECT_NO_THROW(decode_image_file(kSample, DecodeLimits{600 * 450}));
  const std::string too_big = kiln::testing::message_of(
      [] { decode_image_file(kSample, DecodeLimits{.max_file_bytes = 1000}); });
  EXPECT_THAT(too_big, AllOf(HasSubstr(kSample), HasSubstr("bytes, more than the limit")));
}

TEST(ImageCorrupt, OtherFilesAreNamedErrors) {
  EXPECT_THAT(decode_error({'h', 'e', 'l', 'l', 'o'}, "text.jpg"), HasSubstr("not a JPEG or PNG"));
  EXPECT_THAT(decode_error({}, "empty.png"), HasSubstr("empty"));
  try {
    decode_image_file("/nonexistent/kiln/missing.jpg");
    ADD_FAILURE() << "a missing file decoded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("/nonexistent/kiln/missing.jpg"), HasSubstr("cannot open")));
  }
}

// Every truncation length and a few flipped bytes of a JPEG and a PNG either decode or throw a
// kiln::Error; nothing crashes or exits.
TEST(ImageCorrupt, DamageAnywhereIsHandled) {
  for (const std::vector<uint8_t>& original : {testing::read_bytes(kSample), sample_png()}) {
    for (size_t n = 0; n < original.size(); n += original.size() / 97 + 1) {
      std::vector<uint8_t> part(original.begin(), original.begin() + n);
      try {
        decode_image(part, "part");
      } catch (const Error&) {
      }
    }
    for (size_t at = 2; at < original.size(); at += original.size() / 53 + 1) {
      std::vector<uint8_t> flipped = original;
      flipped[at] ^= 0x5A;
      try {
        decode_image(flipped, "flipped");
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace kiln::data
