#include "nn/densenet_stem.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/kernels/bn_relu_rows.h"
#include "core/thread_pool.h"
#include "nn/float_buffers.h"

namespace kiln::nn {
namespace {

// A per-thread gather buffer, grown on demand and kept (a row's fields: ~66 KiB at 224^2).
thread_local std::vector<float> t_row_fields;

}  // namespace

Tensor padded_pixels(const Tensor& x, int64_t pad) {
  const Tensor xc = x.contiguous();
  const int64_t n = x.size(0), cin = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t hp = h + 2 * pad, wp = w + 2 * pad;
  Tensor padded = Tensor::empty({n, hp, wp, cin});
  float* pp = padded.data<float>();
  const float* xp = xc.data<float>();
  parallel_for(0, n * hp, 8, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / hp, y = r % hp - pad;
      float* dst = pp + r * wp * cin;
      if (y < 0 || y >= h) {
        std::fill(dst, dst + wp * cin, 0.0f);
        continue;
      }
      std::fill(dst, dst + pad * cin, 0.0f);
      std::fill(dst + (pad + w) * cin, dst + wp * cin, 0.0f);
      for (int64_t c = 0; c < cin; ++c) {
        const float* s = xp + ((img * cin + c) * h + y) * w;
        float* d = dst + pad * cin + c;
        for (int64_t xx = 0; xx < w; ++xx) d[xx * cin] = s[xx];
      }
    }
  });
  return padded;
}

std::vector<float> weight_rows_ijc(const Tensor& weight) {
  const Tensor w = weight.contiguous();
  const int64_t cout = w.size(0), cin = w.size(1), kk2 = w.size(2) * w.size(3), kk = kk2 * cin;
  std::vector<float> rows(static_cast<size_t>(cout * kk));  // [cout][i][j][c]
  const float* src = w.data<float>();
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t t = 0; t < kk2; ++t)
        rows[static_cast<size_t>(o * kk + t * cin + c)] = src[(o * cin + c) * kk2 + t];
  return rows;
}

Tensor weight_from_rows_ijc(const float* rows, int64_t cout, int64_t cin, int64_t k) {
  Tensor w = Tensor::empty({cout, cin, k, k});
  float* dst = w.data<float>();
  const int64_t kk2 = k * k, kk = kk2 * cin;
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t t = 0; t < kk2; ++t) dst[(o * cin + c) * kk2 + t] = rows[o * kk + t * cin + c];
  return w;
}

void gather_fields(const float* padded, int64_t hp, int64_t wp, int64_t cin, int64_t k,
                   int64_t stride, int64_t img, int64_t oy, int64_t w1, float* a) {
  const int64_t kk = k * k * cin, run = k * cin;
  const float* top = padded + (img * hp + oy * stride) * wp * cin;
  for (int64_t ox = 0; ox < w1; ++ox)
    for (int64_t i = 0; i < k; ++i)
      std::memcpy(a + ox * kk + i * run, top + (i * wp + ox * stride) * cin,
                  static_cast<size_t>(run) * sizeof(float));
}

PackedStem::PackedStem(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding)
    : cin_(weight.size(1)),
      cout_(weight.size(0)),
      k_(weight.size(2)),
      stride_(stride),
      pad_(padding) {
  KILN_CHECK(weight.dim() == 4 && weight.size(3) == k_ && weight.dtype() == DType::F32,
             "densenet stem: weight must be f32 [cout, cin, k, k], got ", weight.describe());
  const Tensor b = bias.contiguous();
  const int64_t kk = k_ * k_ * cin_;
  const std::vector<float> rows = weight_rows_ijc(weight);
  w_ = std::make_unique<gemm::PackedB>(/*trans_b=*/true, kk, cout_, rows.data(), kk);
  bias_.assign(b.data<float>(), b.data<float>() + cout_);
}

std::pair<int64_t, int64_t> PackedStem::output_size(int64_t h, int64_t w) const {
  const int64_t h1 = (h + 2 * pad_ - k_) / stride_ + 1, w1 = (w + 2 * pad_ - k_) / stride_ + 1;
  return {(h1 - 1) / 2 + 1, (w1 - 1) / 2 + 1};
}

std::pair<int64_t, int64_t> PackedStem::forward(const Tensor& x, float* out, int64_t ldo) const {
  KILN_CHECK(x.dim() == 4 && x.size(1) == cin_ && x.dtype() == DType::F32,
             "densenet stem: pixel_values must be f32 [N, ", cin_, ", H, W], got ", x.describe());
  const Tensor xc = x.contiguous();
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  KILN_CHECK(h + 2 * pad_ >= k_ && w + 2 * pad_ >= k_, "densenet stem: pixel_values ", x.describe(),
             " are smaller than conv0's ", k_, "x", k_, " kernel");
  const int64_t hp = h + 2 * pad_, wp = w + 2 * pad_;
  const int64_t h1 = (hp - k_) / stride_ + 1, w1 = (wp - k_) / stride_ + 1;

  const Tensor padded = padded_pixels(xc, pad_);
  const float* pp = padded.data<float>();

  // relu(conv0) channels-last, one GEMM per output image row on its gathered fields.
  Tensor conv = Tensor::empty({n * h1 * w1, cout_});
  float* cp = conv.data<float>();
  const int64_t kk = k_ * k_ * cin_;
  gemm::Epilogue ep;
  ep.bias = bias_.data();
  ep.activation = kernels::relu_f32;
  parallel_for(0, n * h1, 1, [&](int64_t rb, int64_t re) {
    float* a = grow_scratch(t_row_fields, w1 * kk);
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / h1, oy = r % h1;
      gather_fields(pp, hp, wp, cin_, k_, stride_, img, oy, w1, a);
      gemm::sgemm_packed_b(false, w1, 1.0f, a, kk, *w_, 0.0f, cp + r * w1 * cout_, cout_, ep);
    }
  });

  // Max pool 3x3 / 2, padding 1, on the ReLU's output: every window holds at least one valid
  // value and all are >= 0, so starting each maximum at 0 is max_pool2d's result exactly.
  const int64_t oh = (h1 - 1) / 2 + 1, ow = (w1 - 1) / 2 + 1, c = cout_;
  parallel_for(0, n * oh, 4, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / oh, oy = r % oh;
      const int64_t y0 = std::max<int64_t>(0, 2 * oy - 1), y1 = std::min(h1 - 1, 2 * oy + 1);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t x0 = std::max<int64_t>(0, 2 * ox - 1), x1 = std::min(w1 - 1, 2 * ox + 1);
        float* __restrict d = out + (r * ow + ox) * ldo;
        for (int64_t k = 0; k < c; ++k) d[k] = 0.0f;
        for (int64_t y = y0; y <= y1; ++y)
          for (int64_t xx = x0; xx <= x1; ++xx) {
            const float* __restrict s = cp + ((img * h1 + y) * w1 + xx) * c;
            for (int64_t k = 0; k < c; ++k) d[k] = s[k] > d[k] ? s[k] : d[k];
          }
      }
    }
  });
  return {oh, ow};
}

}  // namespace kiln::nn
