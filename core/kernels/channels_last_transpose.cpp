// Plain build of the NCHW <-> channels-last row transposes and the run-time dispatch.
#include "core/kernels/channels_last_transpose.h"

#include "core/cpu_features.h"

namespace kiln::kernels {

namespace plain {

void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t x = 0; x < count; ++x) dst[x * ldd + c] = src[c * plane + x];
}

void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane) {
  for (int64_t c = 0; c < channels; ++c) {
    const float b = bias ? bias[c] : 0.0f;
    for (int64_t x = 0; x < count; ++x) dst[c * plane + x] = src[x * lds + c] + b;
  }
}

}  // namespace plain

void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd) {
  (active_isa() == IsaLevel::kAvx512 ? avx512::planes_to_pixels : plain::planes_to_pixels)(
      src, plane, channels, count, dst, ldd);
}

void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane) {
  (active_isa() == IsaLevel::kAvx512 ? avx512::pixels_to_planes : plain::pixels_to_planes)(
      src, lds, channels, count, bias, dst, plane);
}

}  // namespace kiln::kernels
