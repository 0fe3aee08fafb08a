// Loading image examples on background threads: the tensors are the same with 0, 1 or 4 threads
// (and on a rerun of the same epoch), a failing item's error arrives at its turn without stopping
// the rest, loads stay within the window, and the eval path gives PIL's normalised tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "core/error.h"
#include "core/sha256.h"
#include "data/image_example.h"
#include "data/prefetch_loader.h"
#include "tests/common/reference_checks.h"
#include "tests/data/image_test_support.h"

namespace kiln::data {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> sample_paths() {
  std::vector<std::string> paths;
  for (const auto& row : testing::fixture_rows("pil_rgb_sha256.txt"))
    paths.push_back(testing::kHam + row.at(3));
  return paths;
}

// The sha256 of every tensor of one epoch, loaded with `threads` workers.
std::vector<std::string> epoch_digests(const std::vector<std::string>& paths, int threads,
                                       uint64_t epoch) {
  Augmentation aug;
  aug.size = {64, 64};
  aug.vertical_flip = 0.5;
  aug.rotation_degrees = 20;
  aug.jitter = {0.3, 0.3, 0.3, 0.1};
  PrefetchLoader loader(
      static_cast<int64_t>(paths.size()),
      [&](int64_t i) {
        return load_train_example(paths[i], aug, Normalization{}, ExampleRng(42, epoch, i));
      },
      threads, 8);
  std::vector<std::string> digests;
  while (loader.remaining() > 0) {
    const Tensor t = loader.next();
    digests.push_back(sha256_hex({static_cast<const char*>(t.raw_data()), t.nbytes()}));
  }
  return digests;
}

TEST(ImageLoader, ThreadsNeverChangeTheTensors) {
  const std::vector<std::string> paths = sample_paths();
  ASSERT_EQ(paths.size(), 70u);
  const auto inline_load = epoch_digests(paths, 0, 1);
  EXPECT_EQ(epoch_digests(paths, 1, 1), inline_load);
  EXPECT_EQ(epoch_digests(paths, 4, 1), inline_load);
  EXPECT_NE(epoch_digests(paths, 4, 2), inline_load) << "another epoch, other augmentations";
}

TEST(ImageLoader, AnErrorArrivesAtItsTurnAndTheRestStillLoad) {
  std::vector<std::string> paths = sample_paths();
  paths.resize(6);
  paths[3] = "/nonexistent/kiln/bad.jpg";
  PrefetchLoader loader(
      6,
      [&](int64_t i) {
        return load_eval_example(paths[i], {{32, 32}}, Normalization{});
      },
      3);
  for (int i = 0; i < 6; ++i) {
    if (i == 3) {
      EXPECT_THAT(kiln::testing::message_of([&] { loader.next(); }), HasSubstr(paths[3]));
    } else {
      EXPECT_EQ(loader.next().shape(), (Shape{3, 32, 32}));
    }
  }
  EXPECT_THROW(loader.next(), Error);
}

TEST(ImageLoader, LoadsStayWithinTheWindow) {
  std::atomic<int64_t> taken{0};
  std::atomic<int> violations{0};
  const int64_t window = 4;
  PrefetchLoader loader(
      100,
      [&](int64_t i) {
        // next() frees a slot just before the test counts the item it returned: hence "+ 1".
        if (i >= taken.load() + window + 1) ++violations;
        return Tensor::scalar(static_cast<double>(i));
      },
      4, window);
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(loader.next().item(), static_cast<double>(i));
    ++taken;
  }
  EXPECT_EQ(violations.load(), 0);
}

TEST(ImageLoader, StopsCleanlyWithItemsUntaken) {
  PrefetchLoader loader(
      1000, [](int64_t i) { return Tensor::scalar(static_cast<double>(i)); }, 4);
  EXPECT_EQ(loader.next().item(), 0.0);
}  // the destructor joins without waiting for all 1000

TEST(ImageLoader, EvalPathGivesPilsNormalisedTensor) {
  const auto refs = io::SafetensorsFile::open(testing::kPreprocess);
  const Tensor got =
      load_eval_example(testing::kHam + "akiec/ISIC_0026083.jpg", {{64, 64}}, Normalization{});
  const io::TensorEntry& want = refs.at("img0.resize64_norm");
  ASSERT_EQ(got.nbytes(), want.data_end - want.data_begin);
  EXPECT_EQ(std::memcmp(got.raw_data(), want.data, got.nbytes()), 0);
  // The ImageNet eval recipe: Resize(256) + CenterCrop(224).
  const Image recipe = preprocess_for_eval(
      decode_image_file(testing::kHam + "akiec/ISIC_0026083.jpg"), {{224, 224}, 256});
  EXPECT_EQ(testing::max_abs_diff(
                recipe, testing::reference_image(refs, "img0.resize256_centercrop224_u8")),
            0);
}

}  // namespace
}  // namespace kiln::data
