// Tensor basics: factories, views share storage, dtype conversions, element access, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace kiln {
namespace {

TEST(Tensor, FactoriesAndMetadata) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::F32);
  EXPECT_TRUE(z.is_contiguous());
  for (double v : z.to_vector()) EXPECT_EQ(v, 0.0);
  Tensor f = Tensor::full({4}, 2.5, DType::F64);
  for (double v : f.to_vector()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::scalar(3.0).item(), 3.0);
  EXPECT_EQ(Tensor::arange(5).to_ints(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Tensor::empty({0, 7}).numel(), 0);
  EXPECT_THROW(Tensor::zeros({-1, 2}), Error);
  EXPECT_THROW(Tensor::from_vector({1, 2, 3}, {2, 2}), Error);
}

TEST(Tensor, EveryDtypeRoundTrips) {
  const std::vector<double> vals = {0, 1, -2, 100, 7};
  for (DType dt : kAllDTypes) {
    if (dt == DType::U8) continue;  // -2 does not fit
    Tensor t = Tensor::from_vector(vals, {5}, dt);
    EXPECT_EQ(t.to_vector(), vals) << dtype_name(dt);
    EXPECT_EQ(t.nbytes(), 5 * dtype_size(dt));
  }
}

TEST(Tensor, ViewsShareStorageWithoutCopies) {
  Tensor a = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = a.transpose(0, 1);
  EXPECT_EQ(t.storage().get(), a.storage().get());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at({2, 1}), 5.0);
  Tensor s = a.slice(1, 1, 3);
  EXPECT_EQ(s.storage().get(), a.storage().get());
  EXPECT_EQ(s.to_vector(), (std::vector<double>{1, 2, 4, 5}));
  Tensor e = Tensor::from_vector({1, 2}, {2, 1}).expand({2, 4});
  EXPECT_EQ(e.strides()[1], 0);
  EXPECT_EQ(e.to_vector(), (std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2}));
  Tensor r = a.reshape({3, 2});
  EXPECT_EQ(r.storage().get(), a.storage().get());
  // Reshape of a non-contiguous view must copy (and still be right).
  Tensor rt = t.reshape({6});
  EXPECT_NE(rt.storage().get(), a.storage().get());
  EXPECT_EQ(rt.to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  // Writes through a view are visible in the base.
  fill_(a.select(0, 1), 9.0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 1, 2, 9, 9, 9}));
}

TEST(Tensor, Bf16AndF16ConversionsRoundToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between two bf16 values: rounds to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // 1 + 3*2^-8 rounds up to even mantissa 2
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);           // overflow to inf
  EXPECT_EQ(f32_to_f16(5.9604645e-8f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604645e-8f);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  // Every f16 value survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = f16_to_f32(bits);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), bits) << h;
  }
  Tensor t = Tensor::from_vector({0.1, -3.5, 1000.25}, {3}).to(DType::BF16).to(DType::F32);
  EXPECT_NEAR(t.at({0}), 0.1, 1e-3);
  EXPECT_EQ(t.at({1}), -3.5);
}

TEST(Tensor, FromBlobIsZeroCopyAndKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  Tensor t = Tensor::from_blob(owner->data(), {2, 2}, DType::F32, owner);
  EXPECT_EQ(t.raw_data(), owner->data());
  std::weak_ptr<std::vector<float>> w = owner;
  owner.reset();
  EXPECT_FALSE(w.expired());
  EXPECT_EQ(t.at({1, 0}), 3.0);
  EXPECT_FALSE(t.storage()->writable());
  EXPECT_THROW(fill_(t, 0.0), Error);  // borrowed memory may be a read-only mapping
  EXPECT_TRUE(t.clone().storage()->writable());
  t = Tensor();
  EXPECT_TRUE(w.expired());
}

TEST(Tensor, ErrorsNameTheProblem) {
  Tensor a = Tensor::zeros({2, 3});
  try {
    add(a, Tensor::zeros({4}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(a.transpose(0, 2), Error);
  EXPECT_THROW(a.reshape({4, 2}), Error);
  EXPECT_THROW(a.at({2, 0}), Error);
  EXPECT_THROW(add(a, Tensor::zeros({2, 3}, DType::F64)), Error);
  EXPECT_THROW(exp(Tensor::zeros({2}, DType::I64)), Error);
  EXPECT_THROW(Tensor::zeros({2}, DType::I64).set_requires_grad(), Error);
}

TEST(Tensor, RandnIsSeededAndThreadIndependent) {
  Generator g1(7), g2(7);
  Tensor a = Tensor::randn({1000}, g1), b = Tensor::randn({1000}, g2);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  Tensor c = Tensor::randn({1000}, g1);  // the stream advanced
  EXPECT_NE(a.to_vector(), c.to_vector());
  double m = 0, v = 0;
  for (double x : a.to_vector()) m += x;
  m /= 1000;
  for (double x : a.to_vector()) v += (x - m) * (x - m);
  v /= 1000;
  EXPECT_NEAR(m, 0.0, 0.1);
  EXPECT_NEAR(v, 1.0, 0.15);
}

}  // namespace
}  // namespace kiln
