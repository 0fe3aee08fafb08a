// Resizing as Pillow 9.4's Image.resize(size, Image.BILINEAR), the resampler torchvision's Resize
// calls on PIL images: a separable convolution with the triangle filter whose support is
// stretched by the scale factor when shrinking (so it antialiases, unlike 4-tap bilinear
// interpolation), 22-bit fixed-point weights, the horizontal pass first with a rounded uint8
// intermediate, then the vertical pass. A pass whose size is unchanged is skipped.
#pragma once

#include <cstdint>

#include "data/image.h"

namespace kiln::data {

struct Size2 {
  int64_t width = 0;
  int64_t height = 0;
  bool operator==(const Size2&) const = default;
};

Image resize_bilinear(const Image& image, Size2 size);

// torchvision's Resize(n) with an int: the shorter side becomes n, the longer one
// int(n * long / short) (truncated), so 600x450 -> 341x256.
Size2 shorter_side_size(Size2 input, int64_t shorter);
Image resize_shorter_side(const Image& image, int64_t shorter);

}  // namespace kiln::data
