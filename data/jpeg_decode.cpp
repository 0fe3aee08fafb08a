// JPEG decoding with libjpeg(-turbo)'s classic API, set up as Pillow's JpegDecode.c is outside
// draft mode: default decompression parameters (JDCT_ISLOW, fancy upsampling, no scaling), the
// output colour space chosen from the number of components (1: gray, 3: RGB, 4: CMYK).
//
// libjpeg reports errors by calling error_exit, whose default prints and calls exit(). Here it
// longjmps back into the two small functions below that called libjpeg; they hold no C++ objects,
// so no destructor is skipped. A premature end of data is only a warning to libjpeg (it pads the
// image with gray); PIL refuses truncated files, so that warning is an error here too.
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "data/image_codecs.h"

namespace kiln::data::detail {
namespace {

struct JpegErrors {
  jpeg_error_mgr pub;  // first, so that a j_common_ptr's err can be cast to JpegErrors
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jump_with_message(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

extern "C" void on_jpeg_error(j_common_ptr cinfo) {
  jump_with_message(cinfo);
}

extern "C" void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jump_with_message(cinfo);
  if (level < 0) ++cinfo->err->num_warnings;  // other corrupt-data warnings: decode as PIL does
}

extern "C" void ignore_jpeg_output(j_common_ptr) {}

// Owns the decompressor so that it is destroyed however decoding ends.
struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors{};
  bool created = false;
  ~JpegDecoder() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

// Each returns false when libjpeg raised an error (the message is in errors.message).
bool read_header(JpegDecoder& d, const uint8_t* data, size_t size) {
  d.cinfo.err = jpeg_std_error(&d.errors.pub);
  d.errors.pub.error_exit = on_jpeg_error;
  d.errors.pub.emit_message = on_jpeg_message;
  d.errors.pub.output_message = ignore_jpeg_output;
  if (setjmp(d.errors.jump)) return false;
  jpeg_create_decompress(&d.cinfo);
  d.created = true;
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  return true;
}

bool read_pixels(JpegDecoder& d, uint8_t* out, size_t row_bytes) {
  if (setjmp(d.errors.jump)) return false;
  jpeg_start_decompress(&d.cinfo);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = out + d.cinfo.output_scanline * row_bytes;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&d.cinfo);
  return true;
}

// Pillow's MULDIV255: a * b / 255, rounded, in integers.
int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return (t + (t >> 8)) >> 8;
}

// In place, from the end: n gray bytes -> n RGB pixels.
void gray_to_rgb(uint8_t* buf, int64_t n) {
  for (int64_t i = n - 1; i >= 0; --i) buf[3 * i] = buf[3 * i + 1] = buf[3 * i + 2] = buf[i];
}

// In place, from the start: n CMYK pixels stored with Adobe's inverted polarity -> n RGB pixels,
// as Pillow's "CMYK;I" unpacking followed by its cmyk2rgb conversion.
void inverted_cmyk_to_rgb(uint8_t* buf, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* in = buf + 4 * i;
    const int not_k = in[3];  // 255 - K, since K is stored inverted
    int rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = not_k - muldiv255(255 - in[c], not_k);
    for (int c = 0; c < 3; ++c) buf[3 * i + c] = static_cast<uint8_t>(std::clamp(rgb[c], 0, 255));
  }
}

}  // namespace

Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name,
                  const DecodeLimits& limits) {
  JpegDecoder d;
  if (!read_header(d, bytes.data(), bytes.size()))
    throw Error(name + ": corrupt JPEG header: " + d.errors.message);
  const int components = d.cinfo.num_components;
  if (components == 1) {
    d.cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (components == 3) {
    d.cinfo.out_color_space = JCS_RGB;
  } else if (components == 4) {
    d.cinfo.out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK
  } else {
    throw Error(name + ": JPEG with " + std::to_string(components) +
                " components is not supported (expected gray, RGB or CMYK)");
  }
  check_image_size(d.cinfo.image_width, d.cinfo.image_height, name, limits);
  const int64_t w = d.cinfo.image_width, h = d.cinfo.image_height;
  // Room for the widest decode (CMYK, 4 bytes a pixel); converted to RGB in place after.
  std::vector<uint8_t> buf(static_cast<size_t>(w * h * std::max(components, 3)));
  if (!read_pixels(d, buf.data(), static_cast<size_t>(w * components))) {
    const bool truncated = d.errors.pub.msg_code == JWRN_JPEG_EOF;
    throw Error(name + (truncated ? ": truncated JPEG file: " : ": corrupt JPEG data: ") +
                d.errors.message);
  }
  if (components == 1) gray_to_rgb(buf.data(), w * h);
  if (components == 4) inverted_cmyk_to_rgb(buf.data(), w * h);
  buf.resize(static_cast<size_t>(w * h * 3));
  Image image;
  image.width = w;
  image.height = h;
  image.rgb = std::move(buf);
  return image;
}

}  // namespace kiln::data::detail
