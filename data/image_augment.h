// Training-time augmentation with torchvision 0.14's semantics on PIL images, applied in this
// order: RandomResizedCrop (or a plain resize), RandomHorizontalFlip, RandomVerticalFlip,
// RandomRotation (nearest, size kept, black corners), ColorJitter (its four adjustments in a
// random order). Random draws come from an ExampleRng (data/example_rng.h), so an example's
// augmentation is a pure function of (seed, epoch, example index); each step draws from its own
// slot. The draws are kiln's own, so the same seed does not give torchvision's crops, only the
// same distribution of them.
#pragma once

#include <array>
#include <cstdint>

#include "data/example_rng.h"
#include "data/image.h"
#include "data/image_crop.h"
#include "data/image_resize.h"

namespace kiln::data {

// torchvision ColorJitter(brightness, contrast, saturation, hue): factors uniform in
// [max(0, 1 - x), 1 + x] for the first three, the hue shift uniform in [-hue, hue] (hue <= 0.5);
// 0 turns an adjustment off.
struct ColorJitter {
  double brightness = 0;
  double contrast = 0;
  double saturation = 0;
  double hue = 0;
};

struct Augmentation {
  Size2 size{224, 224};                               // the output size
  bool random_resized_crop = true;                    // false: resize the whole image to `size`
  std::array<double, 2> scale{0.08, 1.0};             // of the area (RandomResizedCrop)
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};  // width / height
  double horizontal_flip = 0.5;                       // probabilities
  double vertical_flip = 0.0;
  double rotation_degrees = 0;  // angle uniform in [-d, d]; 0 = off
  ColorJitter jitter;
};

struct CropBox {
  int64_t top = 0;
  int64_t left = 0;
  Size2 size;
};

// RandomResizedCrop.get_params: up to 10 tries of area * U(scale) at a log-uniform aspect ratio,
// then the centre crop at the nearest allowed ratio.
CropBox random_resized_crop_box(Size2 image, std::array<double, 2> scale,
                                std::array<double, 2> ratio, ExampleRng& rng);

// Throws kiln::Error when the settings are out of range (checked before drawing anything).
void check_augmentation(const Augmentation& aug);
Image augment(const Image& image, const Augmentation& aug, const ExampleRng& rng);

}  // namespace kiln::data
