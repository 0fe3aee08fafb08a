// An 8-bit RGB image in memory: rows top to bottom, pixels left to right, channels R, G, B
// interleaved (HWC, the layout PIL's convert("RGB") gives and numpy's asarray(img) shows). Every
// decoder converts to this, and every preprocessing step reads and writes it, so that each step
// can be compared byte for byte with PIL's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::data {

struct Image {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3 bytes

  Image() = default;
  Image(int64_t w, int64_t h) : width(w), height(h), rgb(static_cast<std::size_t>(w * h * 3), 0) {}

  uint8_t* row(int64_t y) { return rgb.data() + y * width * 3; }
  const uint8_t* row(int64_t y) const { return rgb.data() + y * width * 3; }
  uint8_t* pixel(int64_t x, int64_t y) { return row(y) + x * 3; }
  const uint8_t* pixel(int64_t x, int64_t y) const { return row(y) + x * 3; }
  bool operator==(const Image&) const = default;
};

}  // namespace kiln::data
