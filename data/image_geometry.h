// Flips and rotation of RGB images as PIL does them (torchvision's RandomHorizontalFlip,
// RandomVerticalFlip and RandomRotation call these on PIL images).
#pragma once

#include <array>
#include <cstdint>

#include "data/image.h"

namespace kiln::data {

Image flip_horizontal(const Image& image);
Image flip_vertical(const Image& image);

// PIL's Image.rotate(degrees, NEAREST, expand=False) about the centre, counter-clockwise, the
// size kept: nearest-neighbour sampling through PIL's 16.16 fixed-point affine loop with the
// matrix rounded to 15 decimals as PIL rounds it; pixels from outside the image are `fill`.
// 0 and 180 degrees (and 90 / 270 on a square image) are exact transpositions, as in PIL.
Image rotate(const Image& image, double degrees, std::array<uint8_t, 3> fill = {0, 0, 0});

}  // namespace kiln::data
