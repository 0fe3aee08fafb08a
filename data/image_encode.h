// Writing images: PNG (lossless; for pictures kiln produces) and JPEG (baseline, libjpeg's
// defaults). Also used by the tests to make gray, CMYK and damaged files from real images.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::data {

enum class PixelLayout { Gray = 1, GrayAlpha = 2, RGB = 3, RGBA = 4, CMYK = 4 + 16 };

inline int channels_of(PixelLayout layout) {
  return static_cast<int>(layout) & 15;
}

// `pixels`: height rows of width * channels_of(layout) bytes. Gray, GrayAlpha, RGB and RGBA.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height,
                                PixelLayout layout);
// Gray, RGB (stored as YCbCr 4:2:0) or CMYK (written with an Adobe marker and, as Photoshop and
// PIL do, inverted values: pass the inverted bytes you want stored).
std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height,
                                 PixelLayout layout, int quality = 90);

}  // namespace kiln::data
