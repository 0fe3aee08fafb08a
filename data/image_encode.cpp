// Encoders on libpng's simplified write API and libjpeg's classic one. libjpeg's errors longjmp
// back into compress(), which holds no C++ objects.
#include "data/image_encode.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include "core/error.h"

namespace kiln::data {
namespace {

struct JpegWriteErrors {
  jpeg_error_mgr pub;  // first, so that cinfo->err can be cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void on_jpeg_write_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegWriteErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

struct JpegEncoder {
  jpeg_compress_struct cinfo{};
  JpegWriteErrors errors{};
  unsigned char* out = nullptr;  // malloc'd by jpeg_mem_dest
  unsigned long out_size = 0;
  bool created = false;
  ~JpegEncoder() {
    if (created) jpeg_destroy_compress(&cinfo);
    std::free(out);
  }
};

bool compress(JpegEncoder& e, const uint8_t* pixels, int64_t width, int64_t height, int channels,
              J_COLOR_SPACE space, int quality) {
  e.cinfo.err = jpeg_std_error(&e.errors.pub);
  e.errors.pub.error_exit = on_jpeg_write_error;
  if (setjmp(e.errors.jump)) return false;
  jpeg_create_compress(&e.cinfo);
  e.created = true;
  jpeg_mem_dest(&e.cinfo, &e.out, &e.out_size);
  e.cinfo.image_width = static_cast<JDIMENSION>(width);
  e.cinfo.image_height = static_cast<JDIMENSION>(height);
  e.cinfo.input_components = channels;
  e.cinfo.in_color_space = space;
  jpeg_set_defaults(&e.cinfo);
  jpeg_set_quality(&e.cinfo, quality, TRUE);
  jpeg_start_compress(&e.cinfo, TRUE);
  while (e.cinfo.next_scanline < e.cinfo.image_height) {
    auto* row = const_cast<JSAMPROW>(pixels + e.cinfo.next_scanline * width * channels);
    jpeg_write_scanlines(&e.cinfo, &row, 1);
  }
  jpeg_finish_compress(&e.cinfo);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height,
                                PixelLayout layout) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  KILN_CHECK(layout != PixelLayout::CMYK, "encode_png: CMYK cannot be stored in a PNG");
  const bool colour = layout == PixelLayout::RGB || layout == PixelLayout::RGBA;
  const bool alpha = layout == PixelLayout::GrayAlpha || layout == PixelLayout::RGBA;
  image.format = (colour ? PNG_FORMAT_FLAG_COLOR : 0u) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0u);
  // Room for the worst case (stored, uncompressed), so one call writes the file.
  png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
  std::vector<uint8_t> out(size);
  KILN_CHECK(png_image_write_to_memory(&image, out.data(), &size, 0, pixels, 0, nullptr),
             "encode_png: ", image.message);
  out.resize(size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height,
                                 PixelLayout layout, int quality) {
  J_COLOR_SPACE space = JCS_RGB;
  if (layout == PixelLayout::Gray)
    space = JCS_GRAYSCALE;
  else if (layout == PixelLayout::CMYK)
    space = JCS_CMYK;
  else
    KILN_CHECK(layout == PixelLayout::RGB, "encode_jpeg: only gray, RGB or CMYK pixels");
  JpegEncoder e;
  if (!compress(e, pixels, width, height, channels_of(layout), space, quality))
    throw Error(std::string("encode_jpeg: ") + e.errors.message);
  return {e.out, e.out + e.out_size};
}

}  // namespace kiln::data
