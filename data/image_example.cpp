#include "data/image_example.h"

#include "data/image_crop.h"
#include "data/image_resize.h"

namespace kiln::data {

Image preprocess_for_eval(const Image& image, const EvalPreprocess& pre) {
  if (pre.resize_shorter == 0) return resize_bilinear(image, pre.size);
  return center_crop(resize_shorter_side(image, pre.resize_shorter), pre.size);
}

Tensor load_eval_example(const std::string& path, const EvalPreprocess& pre,
                         const Normalization& norm, const DecodeLimits& limits) {
  return image_to_tensor(preprocess_for_eval(decode_image_file(path, limits), pre), norm);
}

Tensor load_train_example(const std::string& path, const Augmentation& aug,
                          const Normalization& norm, const ExampleRng& rng,
                          const DecodeLimits& limits) {
  return image_to_tensor(augment(decode_image_file(path, limits), aug, rng), norm);
}

}  // namespace kiln::data
