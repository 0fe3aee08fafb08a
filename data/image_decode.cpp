#include "data/image_decode.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.h"
#include "data/image_codecs.h"

namespace kiln::data {
namespace detail {

void check_image_size(int64_t width, int64_t height, const std::string& name,
                      const DecodeLimits& limits) {
  KILN_CHECK(width > 0 && height > 0, name, ": image has no pixels (", width, "x", height, ")");
  // Divide rather than multiply so that absurd header sizes cannot overflow.
  KILN_CHECK(width <= limits.max_pixels / height, name, ": image is ", width, "x", height, " = ",
             width * height, " pixels, more than the limit of ", limits.max_pixels,
             " (a corrupt header or a decompression bomb)");
}

}  // namespace detail

Image decode_image(std::span<const uint8_t> bytes, const std::string& name,
                   const DecodeLimits& limits) {
  static constexpr uint8_t kJpegMagic[] = {0xFF, 0xD8, 0xFF};
  static constexpr uint8_t kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto starts_with = [&](std::span<const uint8_t> magic) {
    return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
  };
  if (starts_with(kJpegMagic)) return detail::decode_jpeg(bytes, name, limits);
  if (starts_with(kPngMagic)) return detail::decode_png(bytes, name, limits);
  KILN_CHECK(!bytes.empty(), name, ": empty file, expected a JPEG or PNG image");
  throw Error(name + ": not a JPEG or PNG image (unrecognised first bytes)");
}

Image decode_image_file(const std::string& path, const DecodeLimits& limits) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  KILN_CHECK(in, path, ": cannot open image file: ", std::strerror(errno));
  const auto size = static_cast<int64_t>(in.tellg());
  KILN_CHECK(size <= limits.max_file_bytes, path, ": image file is ", size,
             " bytes, more than the limit of ", limits.max_file_bytes);
  in.seekg(0);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), path, ": read error");
  return decode_image(bytes, path, limits);
}

}  // namespace kiln::data
