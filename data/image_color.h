// Colour adjustments as torchvision 0.14's ColorJitter applies them to PIL images, to the byte:
//   brightness: ImageEnhance.Brightness = Image.blend(black, image, factor);
//   contrast:   ImageEnhance.Contrast = blend with a gray image at the rounded mean of
//               convert("L");
//   saturation: ImageEnhance.Color = blend with convert("L").convert("RGB");
//   hue:        convert("HSV"), H += uint8(hue * 255) with uint8 wrap-around, back to RGB.
// Pillow's blend truncates (not rounds) and computes in float32; factor 0 and 1 are copies.
#pragma once

#include "data/image.h"

namespace kiln::data {

Image adjust_brightness(const Image& image, double factor);
Image adjust_contrast(const Image& image, double factor);
Image adjust_saturation(const Image& image, double factor);
// hue in [-0.5, 0.5] (a fraction of the colour wheel).
Image adjust_hue(const Image& image, double hue);

}  // namespace kiln::data
