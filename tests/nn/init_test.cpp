// nn::init_normal_ writes its draws in place; it must give the very values (and generator advance)
// of the composition it replaced, copy_(t, randn(F64) * std), so seeded models and the bundled
// model's training command keep producing the same weights.
#include <gtest/gtest.h>

#include <cstring>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/layers.h"

namespace kiln::nn {
namespace {

Tensor composed(const Shape& shape, DType dtype, double std, Generator& gen) {
  NoGradGuard ng;
  Tensor t = Tensor::zeros(shape, dtype);
  copy_(t, mul(Tensor::randn(shape, gen, DType::F64), std));
  return t;
}

TEST(InitNormal, InPlaceDrawsMatchTheComposedOpsBitForBit) {
  // 300 x 70 = 21000 values: more than one parallel chunk of 16384.
  for (DType dtype : {DType::F32, DType::BF16, DType::F64}) {
    SCOPED_TRACE(dtype_name(dtype));
    Generator a(5), b(5);
    a.reserve(17);  // start mid-stream, as a model's later parameters do
    b.reserve(17);
    const Tensor want = composed({300, 70}, dtype, 0.02, a);
    Tensor got = Tensor::zeros({300, 70}, dtype);
    init_normal_(got, 0.02, b);
    ASSERT_EQ(std::memcmp(want.raw_data(), got.raw_data(), want.numel() * dtype_size(dtype)), 0);
    EXPECT_EQ(a.offset(), b.offset());
  }
}

TEST(InitNormal, NonContiguousTargetGetsTheSameValues) {
  Generator a(9), b(9);
  const Tensor want = composed({40, 30}, DType::F32, 0.5, a);
  // A transposed view of a [30, 40] tensor: written through its strides.
  Tensor base = Tensor::zeros({30, 40}, DType::F32);
  Tensor view = transpose(base, 0, 1);
  init_normal_(view, 0.5, b);
  const Tensor got = view.contiguous();
  ASSERT_EQ(std::memcmp(want.raw_data(), got.raw_data(), want.numel() * sizeof(float)), 0);
  EXPECT_EQ(a.offset(), b.offset());
}

}  // namespace
}  // namespace kiln::nn
