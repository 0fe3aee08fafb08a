// Resizing, centre cropping and normalisation against the tensors Pillow 9.4 + torchvision 0.14
// produced in refs/image-preprocess (5 JPEGs, 4:4:4, 4:2:0 and 4:2:2). The resize is required to be
// within 1/255 of PIL's; it is bit-identical (the test prints the measured maximum).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/image_crop.h"
#include "data/image_decode.h"
#include "data/image_resize.h"
#include "data/image_tensor.h"
#include "tests/data/image_test_support.h"

namespace kiln::data {
namespace {

using testing::kHam;

struct Fixture {
  io::SafetensorsFile refs = io::SafetensorsFile::open(testing::kPreprocess);
  nlohmann::json meta = nlohmann::json::parse(
      testing::read_bytes(std::string(KILN_SHARED_DIR) + "/refs/image-preprocess/reference.json"));
  Image decoded(size_t i) const {
    return decode_image_file(kHam + meta["images"][i]["file"].get<std::string>());
  }
  Image ref(size_t i, const std::string& what) const {
    return testing::reference_image(refs, "img" + std::to_string(i) + "." + what);
  }
};

TEST(ImageResize, MatchesPilOnEveryReferenceResize) {
  const Fixture f;
  int worst = 0;
  for (size_t i = 0; i < f.meta["images"].size(); ++i) {
    const Image rgb = f.decoded(i);
    const Image square = crop(rgb, 0, 75, {450, 450});
    const std::pair<std::string, Image> cases[] = {
        {"resize224_u8", resize_bilinear(rgb, {224, 224})},
        {"resize64_u8", resize_bilinear(rgb, {64, 64})},
        {"resize256_u8", resize_shorter_side(rgb, 256)},
        {"resize256_centercrop224_u8", center_crop(resize_shorter_side(rgb, 256), {224, 224})},
        {"centercropsquare_resize224_u8",
         resize_bilinear(center_crop(rgb, {450, 450}), {224, 224})},
        {"centercropsquare_resize224_u8", resize_bilinear(square, {224, 224})},
    };
    for (const auto& [name, got] : cases) {
      const int diff = testing::max_abs_diff(got, f.ref(i, name));
      EXPECT_GE(diff, 0) << name << ": size differs";
      EXPECT_LE(diff, 1) << "img" << i << "." << name;
      worst = std::max(worst, diff);
    }
  }
  std::printf("max |kiln - PIL| over all resizes: %d/255\n", worst);
}

TEST(ImageResize, UpscalingAndIdentity) {
  Image tiny(2, 1);
  tiny.rgb = {0, 0, 0, 255, 255, 255};
  EXPECT_EQ(resize_bilinear(tiny, {2, 1}), tiny);
  // PIL: Image.frombytes("RGB", (2, 1), ...).resize((4, 1), BILINEAR) -> 0, 64, 191, 255.
  const Image up = resize_bilinear(tiny, {4, 1});
  EXPECT_EQ(up.rgb, (std::vector<uint8_t>{0, 0, 0, 64, 64, 64, 191, 191, 191, 255, 255, 255}));
}

TEST(ImageCrop, CenterCropRoundsHalfToEvenAsTorchvision) {
  EXPECT_EQ(center_crop_origin({341, 256}, {224, 224}).left, 58);  // 58.5 -> 58
  EXPECT_EQ(center_crop_origin({341, 256}, {224, 224}).top, 16);
  EXPECT_EQ(center_crop_origin({343, 256}, {224, 224}).left, 60);  // 59.5 -> 60
  EXPECT_EQ(center_crop_origin({600, 450}, {450, 450}).left, 75);
  Image image(5, 3);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>(i + 1);
  const Image c = center_crop(image, {2, 2});  // left round(1.5) = 2, top round(0.5) = 0
  EXPECT_EQ(c.width, 2);
  EXPECT_EQ(c.height, 2);
  EXPECT_EQ(c.pixel(0, 0)[0], image.pixel(2, 0)[0]);
  EXPECT_EQ(c.pixel(1, 1)[0], image.pixel(3, 1)[0]);
}

TEST(ImageCrop, CropLargerThanImagePadsWithBlackAsTorchvision) {
  Image image(1, 1);
  image.rgb = {9, 9, 9};
  const Image c = center_crop(image, {4, 3});  // pad left 1, right 2, top 1, bottom 1
  ASSERT_EQ(c.width, 4);
  ASSERT_EQ(c.height, 3);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x) EXPECT_EQ(c.pixel(x, y)[0], x == 1 && y == 1 ? 9 : 0);
}

TEST(ImageTensor, NormalisationIsTorchsFloat32Arithmetic) {
  const Fixture f;
  for (const std::string size : {"224", "64"}) {
    const Image resized = f.ref(0, "resize" + size + "_u8");
    const Tensor got = image_to_tensor(resized, Normalization{});
    const io::TensorEntry& e = f.refs.at("img0.resize" + size + "_norm");
    ASSERT_EQ(got.shape(), Shape(e.shape.begin(), e.shape.end()));
    const auto* want = reinterpret_cast<const float*>(e.data);
    const float* have = got.data<float>();
    double worst = 0;
    for (int64_t i = 0; i < got.numel(); ++i)
      worst = std::max(worst, double(std::abs(have[i] - want[i])));
    EXPECT_EQ(worst, 0.0) << "resize" << size << "_norm";
  }
}

TEST(ImageTensor, BatchStacksChwImages) {
  Image a(2, 1), b(2, 1);
  a.rgb = {255, 0, 0, 0, 255, 0};
  b.rgb = {0, 0, 255, 0, 0, 0};
  const Normalization identity{{0, 0, 0}, {1, 1, 1}};
  const Tensor t = images_to_batch({a, b}, identity);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 1, 2}));
  EXPECT_EQ(t.to_floats(), (std::vector<float>{1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_THROW(images_to_batch({a, Image(1, 1)}, identity), Error);
}

}  // namespace
}  // namespace kiln::data
