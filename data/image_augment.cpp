#include "data/image_augment.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "data/image_color.h"
#include "data/image_geometry.h"

namespace kiln::data {
namespace {

// Every step draws from its own slot of the example's stream.
enum Slot : uint32_t { kCropSlot = 1, kHFlipSlot, kVFlipSlot, kRotationSlot, kJitterSlot };

// Python's round(): half to even (the default rounding mode of nearbyint).
int64_t round_half_even(double x) {
  return static_cast<int64_t>(std::nearbyint(x));
}

Image jitter_colours(const Image& image, const ColorJitter& j, ExampleRng rng) {
  // torchvision draws a permutation of the four adjustments, then each factor that is enabled.
  int order[4];
  std::iota(order, order + 4, 0);
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.integer(0, i + 1)]);
  const double b =
      j.brightness > 0 ? rng.uniform(std::max(0.0, 1 - j.brightness), 1 + j.brightness) : 1;
  const double c = j.contrast > 0 ? rng.uniform(std::max(0.0, 1 - j.contrast), 1 + j.contrast) : 1;
  const double s =
      j.saturation > 0 ? rng.uniform(std::max(0.0, 1 - j.saturation), 1 + j.saturation) : 1;
  const double h = j.hue > 0 ? rng.uniform(-j.hue, j.hue) : 0;
  Image out = image;
  for (int step : order) {
    if (step == 0 && j.brightness > 0) out = adjust_brightness(out, b);
    if (step == 1 && j.contrast > 0) out = adjust_contrast(out, c);
    if (step == 2 && j.saturation > 0) out = adjust_saturation(out, s);
    if (step == 3 && j.hue > 0) out = adjust_hue(out, h);
  }
  return out;
}

}  // namespace

CropBox random_resized_crop_box(Size2 image, std::array<double, 2> scale,
                                std::array<double, 2> ratio, ExampleRng& rng) {
  const double area = static_cast<double>(image.width * image.height);
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale[0], scale[1]);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= image.width && 0 < h && h <= image.height) {
      const int64_t top = rng.integer(0, image.height - h + 1);
      const int64_t left = rng.integer(0, image.width - w + 1);
      return {top, left, {w, h}};
    }
  }
  // Fallback: the whole image, cut down to the nearest allowed aspect ratio, centred.
  const double in_ratio = static_cast<double>(image.width) / static_cast<double>(image.height);
  int64_t w = image.width, h = image.height;
  if (in_ratio < std::min(ratio[0], ratio[1])) {
    h = round_half_even(static_cast<double>(w) / std::min(ratio[0], ratio[1]));
  } else if (in_ratio > std::max(ratio[0], ratio[1])) {
    w = round_half_even(static_cast<double>(h) * std::max(ratio[0], ratio[1]));
  }
  return {(image.height - h) / 2, (image.width - w) / 2, {w, h}};
}

void check_augmentation(const Augmentation& a) {
  KILN_CHECK(a.size.width > 0 && a.size.height > 0,
             "augmentation: the output size must be positive");
  KILN_CHECK(0 < a.scale[0] && a.scale[0] <= a.scale[1],
             "augmentation: scale must be 0 < min <= max, got [", a.scale[0], ", ", a.scale[1],
             "]");
  KILN_CHECK(0 < a.ratio[0] && a.ratio[0] <= a.ratio[1],
             "augmentation: ratio must be 0 < min <= max, got [", a.ratio[0], ", ", a.ratio[1],
             "]");
  for (double p : {a.horizontal_flip, a.vertical_flip})
    KILN_CHECK(p >= 0 && p <= 1, "augmentation: a flip probability must be in [0, 1], got ", p);
  KILN_CHECK(a.rotation_degrees >= 0, "augmentation: rotation degrees must be >= 0");
  const ColorJitter& j = a.jitter;
  KILN_CHECK(j.brightness >= 0 && j.contrast >= 0 && j.saturation >= 0,
             "augmentation: colour jitter amounts must be >= 0");
  KILN_CHECK(j.hue >= 0 && j.hue <= 0.5, "augmentation: hue jitter must be in [0, 0.5], got ",
             j.hue);
}

Image augment(const Image& image, const Augmentation& aug, const ExampleRng& rng) {
  check_augmentation(aug);
  Image out;
  if (aug.random_resized_crop) {
    ExampleRng crop_rng = rng.slot(kCropSlot);
    const CropBox box =
        random_resized_crop_box({image.width, image.height}, aug.scale, aug.ratio, crop_rng);
    out = resize_bilinear(crop(image, box.top, box.left, box.size), aug.size);
  } else {
    out = resize_bilinear(image, aug.size);
  }
  if (aug.horizontal_flip > 0 && rng.slot(kHFlipSlot).bernoulli(aug.horizontal_flip))
    out = flip_horizontal(out);
  if (aug.vertical_flip > 0 && rng.slot(kVFlipSlot).bernoulli(aug.vertical_flip))
    out = flip_vertical(out);
  if (aug.rotation_degrees > 0) {
    ExampleRng rot = rng.slot(kRotationSlot);
    out = rotate(out, rot.uniform(-aug.rotation_degrees, aug.rotation_degrees));
  }
  const ColorJitter& j = aug.jitter;
  if (j.brightness > 0 || j.contrast > 0 || j.saturation > 0 || j.hue > 0)
    out = jitter_colours(out, j, rng.slot(kJitterSlot));
  return out;
}

}  // namespace kiln::data
