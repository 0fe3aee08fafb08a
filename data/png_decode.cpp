// PNG decoding with libpng's classic API, transformed to 8-bit RGB the way Pillow 9.4 opens a PNG
// and converts it with convert("RGB") (see data/image_decode.h for the per-type rules). Gamma and
// colour-profile chunks are ignored, as by PIL.
//
// libpng reports errors by longjmp to the setjmp in the function that called it; the two small
// functions below hold no C++ objects, so no destructor is skipped. A bad CRC is an error in every
// chunk (libpng only warns about ancillary ones by default; PIL refuses them).
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image_codecs.h"

namespace kiln::data::detail {
namespace {

struct PngInput {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];  // the last libpng error
};

extern "C" void read_png_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->pos) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(out, in->data + in->pos, n);
  in->pos += n;
}

extern "C" void on_png_error(png_structp png, png_const_charp message) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->message, sizeof in->message, "%s", message);
  png_longjmp(png, 1);
}

extern "C" void ignore_png_warning(png_structp, png_const_charp) {}

// Owns libpng's read structures so that they are freed however decoding ends.
struct PngDecoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngInput input{};
  ~PngDecoder() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

struct PngHeader {
  png_uint_32 width, height;
  int bit_depth, color_type;
};

// Each returns false when libpng raised an error (the message is in input.message).
bool read_header(PngDecoder& d, PngHeader& header) {
  if (setjmp(png_jmpbuf(d.png))) return false;
  png_set_read_fn(d.png, &d.input, read_png_bytes);
  png_set_crc_action(d.png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(d.png, d.info);
  png_get_IHDR(d.png, d.info, &header.width, &header.height, &header.bit_depth, &header.color_type,
               nullptr, nullptr, nullptr);
  return true;
}

// Sets up libpng's transformations to 8-bit RGB, or to 16-bit gray when `gray16` (converted
// after, since PIL clips those samples rather than keeping their high byte).
bool set_transforms(PngDecoder& d, const PngHeader& h, bool gray16) {
  if (setjmp(png_jmpbuf(d.png))) return false;
  if (h.color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d.png);
  if (h.color_type == PNG_COLOR_TYPE_GRAY && h.bit_depth < 8) png_set_expand_gray_1_2_4_to_8(d.png);
  if (h.bit_depth == 16 && !gray16) png_set_strip_16(d.png);  // the high byte, as PIL's ";16B"
  if (!gray16) png_set_gray_to_rgb(d.png);
  png_set_strip_alpha(d.png);  // also drops the alpha that expanding a tRNS chunk would add
  png_set_interlace_handling(d.png);
  png_read_update_info(d.png, d.info);
  return true;
}

bool read_rows(PngDecoder& d, png_bytepp rows) {
  if (setjmp(png_jmpbuf(d.png))) return false;
  png_read_image(d.png, rows);
  return true;
}

}  // namespace

Image decode_png(std::span<const uint8_t> bytes, const std::string& name,
                 const DecodeLimits& limits) {
  PngDecoder d;
  d.input = PngInput{bytes.data(), bytes.size(), 0, {}};
  d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d.input, on_png_error, ignore_png_warning);
  KILN_CHECK(d.png, name, ": out of memory starting the PNG decoder");
  d.info = png_create_info_struct(d.png);
  KILN_CHECK(d.info, name, ": out of memory starting the PNG decoder");
  PngHeader h{};
  if (!read_header(d, h)) throw Error(name + ": corrupt PNG: " + d.input.message);
  check_image_size(h.width, h.height, name, limits);
  const bool gray16 = h.color_type == PNG_COLOR_TYPE_GRAY && h.bit_depth == 16;
  if (!set_transforms(d, h, gray16)) throw Error(name + ": corrupt PNG: " + d.input.message);
  const size_t row_bytes = png_get_rowbytes(d.png, d.info);
  KILN_CHECK(row_bytes == static_cast<size_t>(h.width) * (gray16 ? 2 : 3), name,
             ": unexpected PNG row size ", row_bytes, " after conversion to RGB");

  Image image(h.width, h.height);
  std::vector<uint8_t> gray16_rows(gray16 ? row_bytes * h.height : 0);
  uint8_t* base = gray16 ? gray16_rows.data() : image.rgb.data();
  std::vector<png_bytep> rows(h.height);
  for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = base + y * row_bytes;
  if (!read_rows(d, rows.data())) throw Error(name + ": corrupt PNG data: " + d.input.message);
  if (gray16) {
    // PIL opens 16-bit gray as mode "I" and convert("RGB") clips each value to 0..255.
    const int64_t n = image.width * image.height;
    for (int64_t i = 0; i < n; ++i) {
      const int v = (gray16_rows[2 * i] << 8) | gray16_rows[2 * i + 1];  // big-endian
      image.rgb[3 * i] = image.rgb[3 * i + 1] = image.rgb[3 * i + 2] =
          static_cast<uint8_t>(std::min(v, 255));
    }
  }
  return image;
}

}  // namespace kiln::data::detail
