#include "data/image_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace kiln::data {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's PRECISION_BITS for 8-bit images

// For every output index, the first source index and the fixed-point weights of its taps.
struct Taps {
  int64_t max_taps = 0;
  std::vector<int64_t> first;   // out_size
  std::vector<int64_t> count;   // out_size
  std::vector<int32_t> weight;  // out_size * max_taps
};

Taps triangle_taps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1 before stretching
  Taps t;
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weight.assign(out_size * t.max_taps, 0);
  std::vector<double> w(t.max_taps);
  const double inv_filterscale = 1.0 / filterscale;  // Pillow multiplies by the reciprocal
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    // (int) truncates toward zero, as in Pillow.
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
    const int64_t hi = std::min<int64_t>(in_size, static_cast<int64_t>(center + support + 0.5));
    const int64_t n = hi - lo;
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double x = std::abs((static_cast<double>(lo + k) - center + 0.5) * inv_filterscale);
      w[k] = x < 1.0 ? 1.0 - x : 0.0;
      sum += w[k];
    }
    t.first[i] = lo;
    t.count[i] = n;
    for (int64_t k = 0; k < n; ++k) {
      const double normalized = sum != 0.0 ? w[k] / sum : w[k];
      // Triangle weights are never negative, so this is Pillow's rounding for w >= 0.
      t.weight[i * t.max_taps + k] =
          static_cast<int32_t>(0.5 + normalized * static_cast<double>(1 << kPrecisionBits));
    }
  }
  return t;
}

uint8_t clip8(int32_t acc) {
  return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255));
}

// One pass along x (`horizontal`) or y. Sums in 32-bit ints, as Pillow does.
Image resample_pass(const Image& in, int64_t out_size, bool horizontal) {
  const Taps t = triangle_taps(horizontal ? in.width : in.height, out_size);
  Image out(horizontal ? out_size : in.width, horizontal ? in.height : out_size);
  const int64_t step = horizontal ? 3 : in.width * 3;  // bytes between neighbouring taps
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      const int64_t i = horizontal ? x : y;
      const uint8_t* src = horizontal ? in.pixel(t.first[i], y) : in.pixel(x, t.first[i]);
      const int32_t* w = &t.weight[i * t.max_taps];
      uint8_t* dst = out.pixel(x, y);
      for (int c = 0; c < 3; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int64_t k = 0; k < t.count[i]; ++k) acc += src[k * step + c] * w[k];
        dst[c] = clip8(acc);
      }
    }
  }
  return out;
}

}  // namespace

Image resize_bilinear(const Image& image, Size2 size) {
  KILN_CHECK(size.width > 0 && size.height > 0, "resize: the target size must be positive, got ",
             size.width, "x", size.height);
  KILN_CHECK(image.width > 0 && image.height > 0, "resize: the image is empty");
  Image out = size.width != image.width ? resample_pass(image, size.width, true) : image;
  if (size.height != image.height) out = resample_pass(out, size.height, false);
  return out;
}

Size2 shorter_side_size(Size2 input, int64_t shorter) {
  KILN_CHECK(shorter > 0, "resize: the shorter side must be positive, got ", shorter);
  const int64_t short_in = std::min(input.width, input.height);
  const int64_t long_in = std::max(input.width, input.height);
  const auto longer =
      static_cast<int64_t>(static_cast<double>(shorter * long_in) / static_cast<double>(short_in));
  return input.width <= input.height ? Size2{shorter, longer} : Size2{longer, shorter};
}

Image resize_shorter_side(const Image& image, int64_t shorter) {
  return resize_bilinear(image, shorter_side_size({image.width, image.height}, shorter));
}

}  // namespace kiln::data
