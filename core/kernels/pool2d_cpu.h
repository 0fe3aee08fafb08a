// CPU kernels of max_pool2d, avg_pool2d and adaptive_avg_pool2d (core/ops/pool2d.cpp holds their
// checks, output sizes and autograd records). Arrays are contiguous [planes, H, W] (planes = N*C);
// each plane is processed by one thread in a fixed order, so forward and backward are bit-identical
// across thread counts (a backward's overlapping windows add into their own plane only).
#pragma once

#include <cstdint>

namespace kiln::kernels {

struct PoolGeometry {
  int64_t planes, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw;
  bool count_include_pad = true;
};

// y = window maximum (-inf padding; the first maximum in row-major window order wins);
// argmax = its index h * W + w within the plane, for the backward.
template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax);
template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* gy, const int64_t* argmax, T* gx);

// Window sum / divisor, with torch's divisor: count_include_pad counts the window clipped to the
// padded input, otherwise only the input elements it covers.
template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, const T* gy, T* gx);

// Adaptive windows [floor(i*H/oh), ceil((i+1)*H/oh)); only planes, h, w, oh, ow of g are used.
template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(const PoolGeometry& g, const T* gy, T* gx);

}  // namespace kiln::kernels
