// Between NCHW planes and channels-last pixel rows, one image row at a time (the Winograd
// convolution's input and output, core/kernels/conv2d_winograd.cpp). The AVX-512 build moves
// 16 channels x 16 pixels per in-register transpose; the plain build is the scalar loop. Both are
// one transpose for the two directions and do the same single float addition per element where a
// bias is given (none otherwise), so they give the same bits.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// dst[x * ldd + c] = src[c * plane + x] for c < channels, x < count.
void planes_to_pixels(const float* src, int64_t plane, int64_t channels, int64_t count, float* dst,
                      int64_t ldd);
// dst[c * plane + x] = src[x * lds + c] (+ bias[c] where bias is given) for c < channels,
// x < count.
void pixels_to_planes(const float* src, int64_t lds, int64_t channels, int64_t count,
                      const float* bias, float* dst, int64_t plane);

// The individual paths, for tests.
namespace plain {
void planes_to_pixels(const float*, int64_t, int64_t, int64_t, float*, int64_t);
void pixels_to_planes(const float*, int64_t, int64_t, int64_t, const float*, float*, int64_t);
}  // namespace plain
namespace avx512 {
void planes_to_pixels(const float*, int64_t, int64_t, int64_t, float*, int64_t);
void pixels_to_planes(const float*, int64_t, int64_t, int64_t, const float*, float*, int64_t);
}  // namespace avx512

}  // namespace kiln::kernels
