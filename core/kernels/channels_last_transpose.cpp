// Plain build of the NCHW <-> channels-last row transposes and the run-time dispatch.
#include "core/kernels/channels_last_transpose.h"

#include "core/cpu_features.h"

namespace kiln::kernels {

namespace plain {
namespace {

// dst[c * ldd + r] = src[r * lds + c] (+ add[c] where add is given) for r < rows, c < cols.
void transpose(const float* src, int64_t lds, int64_t rows, int64_t cols, const float* add,
               float* dst, int64_t ldd) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r)
      dst[c * ldd + r] = add ? src[r * lds + c] + add[c] : src[r * lds + c];
}

}  // namespace

void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd) {
  transpose(src, plane, channels, count, nullptr, dst, ldd);
}

void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane) {
  transpose(src, lds, count, channels, bias, dst, plane);
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
