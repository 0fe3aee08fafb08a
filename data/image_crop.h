// Cropping as PIL's Image.crop (a box partly outside the image is padded with black) and centre
// cropping as torchvision 0.14's CenterCrop.
#pragma once

#include <cstdint>

#include "data/image.h"
#include "data/image_resize.h"

namespace kiln::data {

// The size.width x size.height region whose top-left corner is (left, top); pixels outside the
// image are black.
Image crop(const Image& image, int64_t top, int64_t left, Size2 size);

// torchvision CenterCrop: top = int(round((H - h) / 2.0)), left likewise, with Python's
// round-half-to-even (W = 341 to 224 gives left 58). A crop larger than the image first pads it
// with black, (d // 2) before and ((d + 1) // 2) after, as torchvision does.
Image center_crop(const Image& image, Size2 size);

// The top-left corner CenterCrop uses for an image at least as large as the crop.
struct CropOrigin {
  int64_t top = 0;
  int64_t left = 0;
};
CropOrigin center_crop_origin(Size2 image, Size2 crop);

}  // namespace kiln::data
