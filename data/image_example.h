// One image example from its file to kiln's pixel_values [3, H, W]: decode, then either the eval
// preprocessing (a plain resize, or torchvision's Resize(shorter) + CenterCrop) or the training
// augmentation (data/image_augment.h) seeded by (seed, epoch, example), then ToTensor + Normalize.
// Pure functions of their arguments, so they can run on PrefetchLoader's threads.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "data/example_rng.h"
#include "data/image_augment.h"
#include "data/image_decode.h"
#include "data/image_tensor.h"

namespace kiln::data {

struct EvalPreprocess {
  Size2 size{224, 224};
  // 0: resize straight to `size` (aspect ratio not kept, as Resize((H, W))). Otherwise
  // Resize(resize_shorter) then CenterCrop(size), the ImageNet eval recipe (256 then 224).
  int64_t resize_shorter = 0;
};

Image preprocess_for_eval(const Image& image, const EvalPreprocess& pre);

Tensor load_eval_example(const std::string& path, const EvalPreprocess& pre,
                         const Normalization& norm, const DecodeLimits& limits = {});
Tensor load_train_example(const std::string& path, const Augmentation& aug,
                          const Normalization& norm, const ExampleRng& rng,
                          const DecodeLimits& limits = {});

}  // namespace kiln::data
