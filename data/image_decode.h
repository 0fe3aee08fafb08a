// Decoding JPEG and PNG files to RGB exactly as Pillow 9.4's Image.open(path).convert("RGB") does
// (byte for byte on libjpeg-turbo with its default settings: accurate integer IDCT and fancy
// upsampling, which is what PIL uses outside draft mode).
//
// Conversions, as PIL's convert("RGB"):
//   - grayscale (JPEG or PNG, any bit depth below 16) -> R = G = B = the gray value;
//   - CMYK / YCCK JPEG -> with C, M, Y, K the ink amounts (PIL always assumes Adobe's polarity:
//     the file stores 255 minus each), R = (255 - K) - round(C * (255 - K) / 255), G and B
//     likewise from M and Y;
//   - palette PNG -> the palette colours; alpha (RGBA, gray + alpha, tRNS) is dropped, never
//     composited;
//   - 16-bit RGB / RGBA / gray + alpha PNG -> the high byte of each sample; 16-bit gray PNG (PIL's
//     mode "I") -> the value clipped to 255, as PIL does (so such files come out mostly white).
// Refused with a kiln::Error whose message starts with the file name: truncated or corrupt data
// (a JPEG without its end marker included, as PIL), a bad CRC in any PNG chunk read (stricter than
// PIL, which does not check IDAT CRCs), zero width or height, more than `max_pixels` pixels
// (checked from the header, before anything is allocated), other formats. EXIF orientation is
// ignored, as by PIL.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "data/image.h"

namespace kiln::data {

struct DecodeLimits {
  // Pillow's DecompressionBombError threshold (2 * Image.MAX_IMAGE_PIXELS): about 537 MB of RGB.
  int64_t max_pixels = 178956970;
  // Files are read whole before decoding; larger ones are refused unread.
  int64_t max_file_bytes = int64_t{1} << 30;
};

// Reads and decodes the file at `path` (the format is taken from its first bytes, not its name).
Image decode_image_file(const std::string& path, const DecodeLimits& limits = {});
// Decodes an in-memory file; `name` is what error messages call it.
Image decode_image(std::span<const uint8_t> bytes, const std::string& name,
                   const DecodeLimits& limits = {});

}  // namespace kiln::data
