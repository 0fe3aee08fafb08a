// Augmentation: each step byte for byte against Pillow 9.4 (pil_augment.txt, made by
// pil_augment.py), and the random pipeline's determinism and distributions: the same (seed, epoch,
// example) always gives the same image, other seeds / epochs / examples differ, flips happen about
// half the time, RandomResizedCrop boxes respect scale and ratio and fall back to the centre crop.
#include "data/image_augment.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "core/error.h"
#include "core/sha256.h"
#include "data/image_color.h"
#include "data/image_decode.h"
#include "data/image_geometry.h"
#include "tests/data/image_test_support.h"

namespace kiln::data {
namespace {

const std::string kSample = testing::kHam + "akiec/ISIC_0026083.jpg";

const Image& small_sample() {
  static const Image image = resize_bilinear(decode_image_file(kSample), {64, 48});
  return image;
}

std::string digest(const Image& image) {
  return sha256_hex({reinterpret_cast<const char*>(image.rgb.data()), image.rgb.size()});
}

TEST(ImageAugment, EveryStepMatchesPil) {
  const std::map<std::string, std::function<Image(const Image&, double)>> steps = {
      {"rotate", [](const Image& im, double a) { return rotate(im, a); }},
      {"flip_horizontal", [](const Image& im, double) { return flip_horizontal(im); }},
      {"flip_vertical", [](const Image& im, double) { return flip_vertical(im); }},
      {"brightness", adjust_brightness},
      {"contrast", adjust_contrast},
      {"saturation", adjust_saturation},
      {"hue", adjust_hue},
  };
  int checked = 0;
  for (const auto& row : testing::fixture_rows("pil_augment.txt")) {
    ASSERT_EQ(row.size(), 3u);
    const std::string& step = row[1];
    ASSERT_TRUE(steps.count(step)) << step;
    EXPECT_EQ(digest(steps.at(step)(small_sample(), std::stod(row[2]))), row[0])
        << step << " " << row[2];
    ++checked;
  }
  EXPECT_EQ(checked, 27);
}

TEST(ImageAugment, RightAngleRotationsOfSquareImagesAreTranspositions) {
  const Image square = crop(small_sample(), 0, 0, {48, 48});
  const Image r90 = rotate(square, 90);
  // Counter-clockwise: the top-right corner moves to the top-left.
  EXPECT_EQ(std::vector<uint8_t>(r90.pixel(0, 0), r90.pixel(0, 0) + 3),
            std::vector<uint8_t>(square.pixel(47, 0), square.pixel(47, 0) + 3));
  EXPECT_EQ(rotate(rotate(square, 90), 270), square);
  EXPECT_EQ(rotate(square, -90), rotate(square, 270));
}

Augmentation full_augmentation() {
  Augmentation aug;
  aug.size = {32, 32};
  aug.vertical_flip = 0.5;
  aug.rotation_degrees = 30;
  aug.jitter = {0.2, 0.2, 0.2, 0.05};
  return aug;
}

TEST(ImageAugment, SameSeedEpochAndExampleGiveTheSameImage) {
  const Augmentation aug = full_augmentation();
  const Image a = augment(small_sample(), aug, ExampleRng(7, 2, 11));
  const Image b = augment(small_sample(), aug, ExampleRng(7, 2, 11));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.width, 32);
  EXPECT_EQ(a.height, 32);
  EXPECT_NE(augment(small_sample(), aug, ExampleRng(8, 2, 11)), a) << "seed";
  EXPECT_NE(augment(small_sample(), aug, ExampleRng(7, 3, 11)), a) << "epoch";
  EXPECT_NE(augment(small_sample(), aug, ExampleRng(7, 2, 12)), a) << "example";
}

TEST(ImageAugment, StepsDrawIndependently) {
  // Turning colour jitter on does not move the crop or the flips.
  Augmentation geometric = full_augmentation();
  geometric.jitter = {};
  geometric.rotation_degrees = 0;
  Augmentation with_jitter = geometric;
  with_jitter.jitter = {0.0, 0.0, 0.0, 0.0};
  with_jitter.jitter.brightness = 1e-9;  // draws a factor, changes (almost) nothing
  int same = 0;
  for (uint64_t ex = 0; ex < 20; ++ex)
    same += augment(small_sample(), geometric, ExampleRng(1, 0, ex)) ==
            augment(small_sample(), with_jitter, ExampleRng(1, 0, ex));
  EXPECT_EQ(same, 20);
}

TEST(ImageAugment, FlipsHappenAboutHalfTheTime) {
  Augmentation aug;
  aug.size = {64, 48};
  aug.random_resized_crop = false;
  aug.horizontal_flip = 0.5;
  const Image flipped = flip_horizontal(small_sample());
  int n_flipped = 0;
  const int n = 2000;
  for (int ex = 0; ex < n; ++ex)
    n_flipped += augment(small_sample(), aug, ExampleRng(3, 0, ex)) == flipped;
  // Binomial(2000, 0.5): sd 22; 5 sd either side.
  EXPECT_NEAR(n_flipped, n / 2, 110);
}

TEST(ImageAugment, RandomResizedCropBoxesFollowScaleAndRatio) {
  const Size2 image{600, 450};
  double area_sum = 0;
  const int n = 3000;
  for (int ex = 0; ex < n; ++ex) {
    ExampleRng rng(5, 0, ex);
    const CropBox box = random_resized_crop_box(image, {0.08, 1.0}, {3.0 / 4, 4.0 / 3}, rng);
    ASSERT_GE(box.top, 0);
    ASSERT_GE(box.left, 0);
    ASSERT_LE(box.top + box.size.height, image.height);
    ASSERT_LE(box.left + box.size.width, image.width);
    const double ratio = double(box.size.width) / box.size.height;
    const double area = double(box.size.width * box.size.height) / (600 * 450);
    // Rounding to whole pixels moves the ratio and area a little past their bounds.
    EXPECT_GE(ratio, 3.0 / 4 * 0.97);
    EXPECT_LE(ratio, 4.0 / 3 * 1.03);
    EXPECT_GE(area, 0.08 * 0.97);
    area_sum += area;
  }
  // Accepted areas are U(0.08, 1) cut by what fits (large areas at extreme ratios are refused):
  // the same algorithm simulated in Python with 200,000 draws gives a mean of 0.432.
  EXPECT_NEAR(area_sum / n, 0.432, 0.015);
}

TEST(ImageAugment, RandomResizedCropFallsBackToTheCentre) {
  // No box of area >= 0.99 at ratio 3..4 fits a square image: after 10 tries, the centre crop at
  // ratio 3 (width 90 -> height round(90 / 3) = 30, top (90 - 30) // 2).
  ExampleRng rng(1, 0, 0);
  const CropBox box = random_resized_crop_box({90, 90}, {0.99, 1.0}, {3.0, 4.0}, rng);
  EXPECT_EQ(box.size, (Size2{90, 30}));
  EXPECT_EQ(box.top, 30);
  EXPECT_EQ(box.left, 0);
  // And a wide image at ratios below its own: full height, width round(h * max ratio).
  const CropBox wide = random_resized_crop_box({400, 100}, {0.99, 1.0}, {0.5, 1.0}, rng);
  EXPECT_EQ(wide.size, (Size2{100, 100}));
  EXPECT_EQ(wide.left, 150);
}

TEST(ImageAugment, BadSettingsAreErrors) {
  Augmentation aug;
  aug.jitter.hue = 0.7;
  EXPECT_THROW(augment(small_sample(), aug, ExampleRng(0, 0, 0)), Error);
  aug = {};
  aug.scale = {0.5, 0.1};
  EXPECT_THROW(augment(small_sample(), aug, ExampleRng(0, 0, 0)), Error);
  EXPECT_THROW(adjust_hue(small_sample(), 0.6), Error);
}

}  // namespace
}  // namespace kiln::data
