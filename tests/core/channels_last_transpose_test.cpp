// NCHW <-> channels-last row transposes (core/kernels/channels_last_transpose.h): both builds
// against the definition, on channel and pixel counts that are not multiples of 16, with row
// strides wider than the channel count and a bias or none; the builds give the same bits.
#include <gtest/gtest.h>

#include <vector>

#include "core/cpu_features.h"
#include "core/kernels/channels_last_transpose.h"

namespace kiln::kernels {
namespace {

using ToPixels = void (*)(const float*, int64_t, int64_t, int64_t, float*, int64_t);
using ToPlanes = void (*)(const float*, int64_t, int64_t, int64_t, const float*, float*, int64_t);

void check(ToPixels to_pixels, ToPlanes to_planes) {
  for (int64_t channels : {1, 5, 16, 33})
    for (int64_t count : {1, 7, 16, 40}) {
      const int64_t plane = count + 3, ld = channels + 2;
      std::vector<float> src(static_cast<size_t>(channels * plane));
      for (size_t i = 0; i < src.size(); ++i) src[i] = 0.25f * static_cast<float>(i) - 3.0f;
      std::vector<float> pixels(static_cast<size_t>(count * ld), -1.0f);
      to_pixels(src.data(), plane, channels, count, pixels.data(), ld);
      for (int64_t x = 0; x < count; ++x) {
        for (int64_t c = 0; c < channels; ++c)
          ASSERT_EQ(pixels[x * ld + c], src[c * plane + x]) << channels << " " << count;
        for (int64_t c = channels; c < ld; ++c) ASSERT_EQ(pixels[x * ld + c], -1.0f);
      }
      std::vector<float> bias(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) bias[c] = 0.5f * static_cast<float>(c);
      const float* const biases[] = {nullptr, bias.data()};
      for (const float* b : biases) {
        std::vector<float> back(src.size(), -1.0f);
        to_planes(pixels.data(), ld, channels, count, b, back.data(), plane);
        for (int64_t c = 0; c < channels; ++c) {
          for (int64_t x = 0; x < count; ++x)
            ASSERT_EQ(back[c * plane + x], src[c * plane + x] + (b ? b[c] : 0.0f));
          for (int64_t x = count; x < plane; ++x) ASSERT_EQ(back[c * plane + x], -1.0f);
        }
      }
    }
}

TEST(ChannelsLastTranspose, PlainMatchesDefinition) {
  check(plain::planes_to_pixels, plain::pixels_to_planes);
}

TEST(ChannelsLastTranspose, Avx512MatchesDefinition) {
  if (hardware_isa() != IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  check(avx512::planes_to_pixels, avx512::pixels_to_planes);
}

}  // namespace
}  // namespace kiln::kernels
