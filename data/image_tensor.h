// From an RGB image to kiln's pixel_values: torchvision's ToTensor (HWC uint8 -> CHW float32 / 255)
// followed by Normalize ((x - mean[c]) / std[c] in float32), bit-identical to torch's float32
// arithmetic.
#pragma once

#include <array>
#include <vector>

#include "core/tensor.h"
#include "data/image.h"

namespace kiln::data {

struct Normalization {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // ImageNet's, torchvision's usual
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// [3, H, W] float32.
Tensor image_to_tensor(const Image& image, const Normalization& norm);
// [N, 3, H, W] float32; every image must have the same size.
Tensor images_to_batch(const std::vector<Image>& images, const Normalization& norm);

}  // namespace kiln::data
