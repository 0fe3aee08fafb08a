// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) of channels-last images with zero padding 1 (not stored): 3x3 kernel,
// stride 1, no dilation or groups. Each 2x2 block of output pixels ("tile") is computed from the
// 4x4 input patch around it as Y = A' [(G g G') . (B' d B)] A: 16 multiplications per channel pair
// where the direct form needs 36, so the products (16 GEMMs of [tiles, cin] x [cin, cout], one per
// position xi of the 4x4 transformed tile) do 2.25x less work; the transforms are additions only.
// The constants are 0, +-1 and +-1/2, so the rounding stays at the level of a direct sum in
// another order (measured in tests/core/winograd_f2x3_test.cpp against an f64 direct
// convolution).
//
// F(4x4, 3x3) (same paper) computes 4x4 output tiles from 6x6 patches: 36 multiplications per
// 16 outputs, 4x fewer than the direct form and 1.8x fewer than F(2x2, 3x3), with 4x fewer
// input transforms per output channel set. Its constants (4, 5, 2, 8, 1/6, 1/24) amplify
// rounding: against f64 up to 1.03e-5 of the largest output at 28 x 28 x 128 channels, about 18x
// F(2x2, 3x3)'s 5.6e-7 (tests/core/winograd_f2x3_test.cpp), far below what inference needs, but
// it changes which pre-activations cross a ReLU's kink, so training paths keep F(2x2, 3x3).
// DenseNet's inference path (nn/densenet_inference) runs its 3x3 convolutions with these.
//
// Every output value goes through the same operations whatever the tile range of the call, so
// results do not depend on how threads split the tiles. The plain and AVX-512 builds may differ in
// the last bits (the AVX-512 products use FMA).
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::kernels {

// The transformed weights u[xi][c][o] (xi = 4 * row + column of the 4x4 tile) of a
// [cout, cin, 3, 3] weight, G g G' evaluated in double and rounded once.
std::vector<float> winograd_f2x3_weights(const float* w, int64_t cout, int64_t cin);

// One input image, channels-last: pixel (y, x) at in + (y * stride + x) * cin, channels
// contiguous. The convolution's zero padding is not stored: tiles at the image's edges read
// pixels outside it as zeros (and never touch that memory).
struct WinogradImage {
  const float* in = nullptr;
  int64_t stride = 0;  // pixels between image rows (>= w)
  int64_t cin = 0;     // channels per pixel, contiguous
  int64_t h = 0, w = 0;
};

// F(2x2, 3x3): tiles [t0, t0 + count) of the image's ceil(h / 2) x ceil(w / 2) tiles (row-major):
// output pixel (y, x) with y < h, x < w goes to out[(y * w + x) * ldo + o], o < cout. `scratch`
// holds winograd_f2x3_scratch_floats(count, cin, cout) floats.
void winograd_f2x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch);
int64_t winograd_f2x3_scratch_floats(int64_t count, int64_t cin, int64_t cout);

// F(2x2, 3x3) under bf16 mixed precision (core/autocast.h): the 16 products per tile take the
// transformed inputs and weights rounded to bf16 and accumulate in f32, on AMX tiles (TDPBF16PS);
// the transforms stay f32. Only where winograd_f2x3_bf16_available(cout): AMX usable (gemm's bf16
// backend is "kiln-amx-bf16") and cout a multiple of 16. uh from winograd_f2x3_weights_bf16 (u
// of winograd_f2x3_weights rounded to bf16, laid out [16][kp / 2][cout][2], kp = cin rounded up
// to 32, zero-padded); scratch of winograd_f2x3_bf16_scratch_floats(count, cin, cout) floats.
// Each output goes through the same operations whatever the call's tile range.
bool winograd_f2x3_bf16_available(int64_t cout);
std::vector<uint16_t> winograd_f2x3_weights_bf16(const std::vector<float>& u, int64_t cin,
                                                 int64_t cout);
void winograd_f2x3_tiles_bf16(const WinogradImage& image, const uint16_t* uh, int64_t cout,
                              int64_t t0, int64_t count, float* out, int64_t ldo, float* scratch);
int64_t winograd_f2x3_bf16_scratch_floats(int64_t count, int64_t cin, int64_t cout);

// F(4x4, 3x3), the same contract with 4x4 tiles: u from winograd_f4x3_weights ([36][cin][cout]),
// tiles numbered over the ceil(h / 4) x ceil(w / 4) grid.
std::vector<float> winograd_f4x3_weights(const float* w, int64_t cout, int64_t cin);
void winograd_f4x3_tiles(const WinogradImage& image, const float* u, int64_t cout, int64_t t0,
                         int64_t count, float* out, int64_t ldo, float* scratch);
int64_t winograd_f4x3_scratch_floats(int64_t count, int64_t cin, int64_t cout);

// The individual paths, for tests (each with winograd_f2x3_tiles' signature).
namespace plain {
void winograd_f2x3_tiles(const WinogradImage&, const float*, int64_t, int64_t, int64_t, float*,
                         int64_t, float*);
void winograd_f4x3_tiles(const WinogradImage&, const float*, int64_t, int64_t, int64_t, float*,
                         int64_t, float*);
// The bf16 reference: the same operands, summed in f32 over channels ascending (any CPU).
void winograd_f2x3_tiles_bf16(const WinogradImage&, const uint16_t*, int64_t, int64_t, int64_t,
                              float*, int64_t, float*);
}  // namespace plain
namespace avx512 {
void winograd_f2x3_tiles(const WinogradImage&, const float*, int64_t, int64_t, int64_t, float*,
                         int64_t, float*);
void winograd_f4x3_tiles(const WinogradImage&, const float*, int64_t, int64_t, int64_t, float*,
                         int64_t, float*);
void winograd_f2x3_tiles_bf16(const WinogradImage&, const uint16_t*, int64_t, int64_t, int64_t,
                              float*, int64_t, float*);
}  // namespace avx512

}  // namespace kiln::kernels
