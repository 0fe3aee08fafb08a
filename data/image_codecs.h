// The per-format decoders behind decode_image (data/image_decode.h), and the checks they share.
// Internal to data/: callers use decode_image, which picks the format from the magic bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "data/image.h"
#include "data/image_decode.h"

namespace kiln::data::detail {

Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name,
                  const DecodeLimits& limits);
Image decode_png(std::span<const uint8_t> bytes, const std::string& name,
                 const DecodeLimits& limits);

// Throws unless 0 < width, height and width * height <= limits.max_pixels; called with the
// header's sizes before the pixels are allocated.
void check_image_size(int64_t width, int64_t height, const std::string& name,
                      const DecodeLimits& limits);

}  // namespace kiln::data::detail
