#include "data/image_crop.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace kiln::data {

Image crop(const Image& image, int64_t top, int64_t left, Size2 size) {
  KILN_CHECK(size.width > 0 && size.height > 0, "crop: the size must be positive, got ", size.width,
             "x", size.height);
  Image out(size.width, size.height);  // black where the box leaves the image
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + size.width, image.width);
  if (x1 <= x0) return out;
  for (int64_t y = std::max<int64_t>(top, 0); y < std::min(top + size.height, image.height); ++y)
    std::memcpy(out.pixel(x0 - left, y - top), image.pixel(x0, y), (x1 - x0) * 3);
  return out;
}

CropOrigin center_crop_origin(Size2 image, Size2 crop) {
  // std::nearbyint rounds half to even in the default rounding mode, as Python's round().
  auto offset = [](int64_t outer, int64_t inner) {
    return static_cast<int64_t>(std::nearbyint(static_cast<double>(outer - inner) / 2.0));
  };
  return {offset(image.height, crop.height), offset(image.width, crop.width)};
}

Image center_crop(const Image& image, Size2 size) {
  // torchvision pads a too-small image first: d // 2 on the left/top, the rest after.
  const int64_t pad_w = std::max<int64_t>(size.width - image.width, 0);
  const int64_t pad_h = std::max<int64_t>(size.height - image.height, 0);
  Size2 padded{image.width + pad_w, image.height + pad_h};
  const CropOrigin o = center_crop_origin(padded, size);
  return crop(image, o.top - pad_h / 2, o.left - pad_w / 2, size);
}

}  // namespace kiln::data
