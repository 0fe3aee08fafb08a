#include "data/image_geometry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>

namespace kiln::data {
namespace {

// Python's round(x, 15): the correctly rounded 15-decimal string, read back.
double round15(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15f", x);
  return std::strtod(buf, nullptr);
}

// Pillow's FIX: 16.16 fixed point, floor(v * 65536 + 0.5).
int fix16(double v) {
  return static_cast<int>(std::floor(v * 65536.0 + 0.5));
}

// Pillow's transpositions for the right angles (clockwise quarter turns = 4 - counter-clockwise).
Image rotate_quarter_turns(const Image& image, int ccw_turns) {
  const bool swap = ccw_turns % 2 == 1;
  Image out(swap ? image.height : image.width, swap ? image.width : image.height);
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sx = x, sy = y;
      if (ccw_turns == 1) sx = image.width - 1 - y, sy = x;
      if (ccw_turns == 2) sx = image.width - 1 - x, sy = image.height - 1 - y;
      if (ccw_turns == 3) sx = y, sy = image.height - 1 - x;
      std::memcpy(out.pixel(x, y), image.pixel(sx, sy), 3);
    }
  return out;
}

}  // namespace

Image flip_horizontal(const Image& image) {
  Image out(image.width, image.height);
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x)
      std::memcpy(out.pixel(image.width - 1 - x, y), image.pixel(x, y), 3);
  return out;
}

Image flip_vertical(const Image& image) {
  Image out(image.width, image.height);
  for (int64_t y = 0; y < image.height; ++y)
    std::memcpy(out.row(image.height - 1 - y), image.row(y), image.width * 3);
  return out;
}

Image rotate(const Image& image, double degrees, std::array<uint8_t, 3> fill) {
  double angle = std::fmod(degrees, 360.0);  // Python's degrees % 360.0
  if (angle < 0) angle += 360.0;
  if (angle == 0) return image;
  if (angle == 180) return rotate_quarter_turns(image, 2);
  if ((angle == 90 || angle == 270) && image.width == image.height)
    return rotate_quarter_turns(image, angle == 90 ? 1 : 3);

  // The inverse map (output -> input) PIL builds in Image.rotate.
  const double rad = -(angle * (std::numbers::pi / 180.0));
  double a[6] = {round15(std::cos(rad)),  round15(std::sin(rad)), 0.0,
                 round15(-std::sin(rad)), round15(std::cos(rad)), 0.0};
  const double cx = static_cast<double>(image.width) / 2.0;
  const double cy = static_cast<double>(image.height) / 2.0;
  a[2] = a[0] * -cx + a[1] * -cy + 0.0 + cx;
  a[5] = a[3] * -cx + a[4] * -cy + 0.0 + cy;

  Image out(image.width, image.height);
  for (int64_t i = 0; i < out.width * out.height; ++i) std::memcpy(&out.rgb[3 * i], fill.data(), 3);
  // Pillow's affine_fixed (its float fallback only runs for coordinates beyond +-32768).
  const int a0 = fix16(a[0]), a1 = fix16(a[1]), a3 = fix16(a[3]), a4 = fix16(a[4]);
  int row_x = fix16(a[2] + a[0] * 0.5 + a[1] * 0.5);
  int row_y = fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (int64_t y = 0; y < out.height; ++y) {
    int xx = row_x, yy = row_y;
    for (int64_t x = 0; x < out.width; ++x) {
      const int xin = xx >> 16, yin = yy >> 16;
      if (xin >= 0 && xin < image.width && yin >= 0 && yin < image.height)
        std::memcpy(out.pixel(x, y), image.pixel(xin, yin), 3);
      xx += a0;
      yy += a3;
    }
    row_x += a1;
    row_y += a4;
  }
  return out;
}

}  // namespace kiln::data
