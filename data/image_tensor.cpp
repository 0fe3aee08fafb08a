#include "data/image_tensor.h"

#include "core/error.h"

namespace kiln::data {
namespace {

void write_chw(const Image& image, const Normalization& norm, float* out) {
  const int64_t plane = image.width * image.height;
  for (int c = 0; c < 3; ++c) {
    KILN_CHECK(norm.std[c] != 0.0f, "normalisation: std[", c, "] is zero");
    for (int64_t i = 0; i < plane; ++i) {
      // Two float32 operations in torch's order: ToTensor's division, then Normalize.
      const float x = static_cast<float>(image.rgb[3 * i + c]) / 255.0f;
      out[c * plane + i] = (x - norm.mean[c]) / norm.std[c];
    }
  }
}

}  // namespace

Tensor image_to_tensor(const Image& image, const Normalization& norm) {
  Tensor t = Tensor::empty({3, image.height, image.width});
  write_chw(image, norm, t.data<float>());
  return t;
}

Tensor images_to_batch(const std::vector<Image>& images, const Normalization& norm) {
  KILN_CHECK(!images.empty(), "images_to_batch: no images");
  const int64_t h = images[0].height, w = images[0].width;
  Tensor t = Tensor::empty({static_cast<int64_t>(images.size()), 3, h, w});
  for (size_t n = 0; n < images.size(); ++n) {
    KILN_CHECK(images[n].height == h && images[n].width == w, "images_to_batch: image ", n, " is ",
               images[n].width, "x", images[n].height, ", the first is ", w, "x", h);
    write_chw(images[n], norm, t.data<float>() + n * 3 * h * w);
  }
  return t;
}

}  // namespace kiln::data
