// nn::Linear with its weight packed for the GEMM: same bits as the plain layer, autograd still
// uses the plain path, released weights refuse to be read and come back exactly.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "nn/state_dict_io.h"

#include <unistd.h>
#include <filesystem>

namespace kiln::nn {
namespace {

std::unique_ptr<Linear> make_linear(int64_t in, int64_t out) {
  auto l = std::make_unique<Linear>(in, out);
  Generator g(3);
  NoGradGuard ng;
  copy_(l->weight, Tensor::randn({out, in}, g, DType::F32));
  copy_(l->bias, Tensor::randn({out}, g, DType::F32));
  return l;
}

TEST(LinearPack, PackedForwardIsBitIdentical) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{37, 100}, {768, 48}, {5, 2}, {300, 97}}) {
    auto lp = make_linear(in, out);
    Linear& l = *lp;
    Generator g(4);
    const Tensor x = Tensor::randn({3, 11, in}, g, DType::F32);
    NoGradGuard ng;
    const std::vector<double> plain = l.forward(x).to_vector();
    l.pack_for_inference();
    EXPECT_EQ(l.forward(x).to_vector(), plain) << in << "x" << out;
    l.unpack_weights();
    l.pack_for_inference(/*release_weights=*/true);
    EXPECT_FALSE(l.weight.defined());
    EXPECT_EQ(l.forward(x).to_vector(), plain) << in << "x" << out;
  }
}

TEST(LinearPack, AutogradUsesThePlainWeight) {
  auto lp = make_linear(16, 8);
  Linear& l = *lp;
  l.set_requires_grad(true);
  l.pack_for_inference();  // a trainable weight is not packed
  Generator g(5);
  const Tensor x = Tensor::randn({4, 16}, g, DType::F32);
  Tensor loss = sum(l.forward(x));
  loss.backward();
  ASSERT_TRUE(l.weight.grad().defined());
}

TEST(LinearPack, ReleasedWeightsRefuseAndRestoreExactly) {
  auto lp = make_linear(40, 60);
  Linear& l = *lp;
  const std::vector<double> w = l.weight.to_vector();
  l.pack_for_inference(/*release_weights=*/true);
  try {
    (void)l.named_parameters();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unpack_weights"), std::string::npos) << e.what();
  }
  // Autograd through a released layer is refused with a clear error, not a wrong gradient.
  Generator g(6);
  Tensor x = Tensor::randn({2, 40}, g, DType::F32);
  x.set_requires_grad(true);
  EXPECT_THROW(l.forward(x), Error);
  l.train();  // training restores the row-major weight
  ASSERT_TRUE(l.weight.defined());
  EXPECT_EQ(l.weight.to_vector(), w);
  EXPECT_EQ(l.named_parameters().size(), 2u);
}

// A weight adopted from a model file (mmapped, read-only): packing with release drops its pages
// from RSS, and any other view of those bytes still reads the file's values afterwards.
TEST(LinearPack, FileMappedWeightsAreDroppedAfterPackingAndStillReadable) {
  auto src = make_linear(1024, 512);  // 2 MiB of weight: whole pages to drop
  const std::string path = std::filesystem::temp_directory_path().string() + "/kiln-pack-test-" +
                           std::to_string(::getpid()) + ".safetensors";
  save_safetensors(path, src->state_dict());
  const StateDict mapped = load_safetensors(path);
  std::filesystem::remove(path);  // the mapping keeps the data alive
  ASSERT_TRUE(mapped.at("weight").storage()->file_mapped());
  Linear l(1024, 512);
  l.load_state_dict(mapped);
  ASSERT_EQ(l.weight.raw_data(), mapped.at("weight").raw_data());  // adopted, not copied
  Generator g(8);
  const Tensor x = Tensor::randn({4, 1024}, g, DType::F32);
  NoGradGuard ng;
  const std::vector<double> plain = l.forward(x).to_vector();
  l.pack_for_inference(/*release_weights=*/true);
  EXPECT_EQ(l.forward(x).to_vector(), plain);
  EXPECT_EQ(mapped.at("weight").to_vector(), src->weight.to_vector());
  l.unpack_weights();
  EXPECT_EQ(l.weight.to_vector(), src->weight.to_vector());
}

}  // namespace
}  // namespace kiln::nn
