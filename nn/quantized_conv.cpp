#include "nn/quantized_conv.h"

#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "nn/float_buffers.h"

namespace kiln::nn {
namespace {

struct Geometry {
  int64_t n, cin, h, w, cout, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
  int64_t k() const { return cin * kh * kw; }
  int64_t pixels() const { return oh * ow; }
};

Geometry geometry(const Tensor& x, const Shape& ws, const Conv2dOptions& o,
                  const std::string& name) {
  KILN_CHECK(ws.size() == 4, "'", name, "': a quantized convolution weight must be 4-D, got ",
             ws.size(), " dimensions");
  KILN_CHECK(o.groups == 1, "'", name, "' is quantized: kiln runs quantized convolutions with ",
             "groups = 1 only (this one has ", o.groups, ")");
  KILN_CHECK(x.dim() == 4 && x.size(1) == ws[1], "'", name, "': input ", x.describe(),
             " does not match the quantized weight [", ws[0], ", ", ws[1], ", ", ws[2], ", ", ws[3],
             "] (expected [N, ", ws[1], ", H, W])");
  Geometry g{x.size(0),
             ws[1],
             x.size(2),
             x.size(3),
             ws[0],
             ws[2],
             ws[3],
             0,
             0,
             o.stride[0],
             o.stride[1],
             o.padding[0],
             o.padding[1],
             o.dilation[0],
             o.dilation[1]};
  KILN_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0 && g.ph >= 0 && g.pw >= 0, "'", name,
             "': stride and dilation must be positive and padding non-negative");
  const int64_t eh = g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1,
                ew = g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1;
  KILN_CHECK(eh >= 0 && ew >= 0, "'", name, "': input ", x.describe(), " is smaller than the ",
             g.kh, "x", g.kw, " kernel (with padding and dilation)");
  g.oh = eh / g.sh + 1, g.ow = ew / g.sw + 1;
  return g;
}

// Pixel rows [r0, r0 + m) (r = (image * oh + oy) * ow + ox) as dst [m, k]: each row the pixel's
// receptive field in the weight's (c, i, j) order, zero where it falls in the padding.
void gather_rows(const Geometry& g, const float* x, int64_t r0, int64_t m, float* dst) {
  const int64_t P = g.pixels(), K = g.k();
  for (int64_t r = r0; r < r0 + m; ++r) {
    const int64_t img = r / P, p = r % P, oy = p / g.ow, ox = p % g.ow;
    const float* xi = x + img * g.cin * g.h * g.w;
    float* d = dst + (r - r0) * K;
    for (int64_t c = 0; c < g.cin; ++c) {
      const float* xc = xi + c * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t iy = oy * g.sh - g.ph + i * g.dh;
        float* di = d + (c * g.kh + i) * g.kw;
        if (iy < 0 || iy >= g.h) {
          std::fill(di, di + g.kw, 0.0f);
          continue;
        }
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t ix = ox * g.sw - g.pw + j * g.dw;
          di[j] = ix >= 0 && ix < g.w ? xc[iy * g.w + ix] : 0.0f;
        }
      }
    }
  }
}

// y rows [r0, r0 + m) ([m, cout]) into the NCHW output.
void scatter_rows(const Geometry& g, const float* y, int64_t r0, int64_t m, float* out) {
  const int64_t P = g.pixels();
  for (int64_t r = r0; r < r0 + m; ++r) {
    const int64_t img = r / P, p = r % P;
    const float* yr = y + (r - r0) * g.cout;
    float* o = out + img * g.cout * P + p;
    for (int64_t c = 0; c < g.cout; ++c) o[c * P] = yr[c];
  }
}

// Pixel rows per GEMM: about 64K gathered floats (L2-sized), at least 64 rows (a q4 GEMM expands
// the weight once per call, which 64 rows amortise) and a multiple of 8 (the micro-kernel's tile
// height). Depends only on the shapes, so the chunks, and the results, are the same for any
// thread count.
int64_t chunk_rows(int64_t k) {
  const int64_t c = std::clamp<int64_t>(65536 / std::max<int64_t>(k, 1), 64, 1024);
  return (c + 7) / 8 * 8;
}

thread_local std::vector<float> t_rows, t_out;

Tensor f32_input(const Tensor& x) {
  return contiguous(x.dtype() == DType::F32 ? x : x.to(DType::F32));
}

Tensor f32_bias(const Tensor& bias, int64_t cout, const std::string& name) {
  if (!bias.defined()) return bias;
  KILN_CHECK(bias.dim() == 1 && bias.size(0) == cout, "'", name, "': bias ", bias.describe(),
             " does not match ", cout, " output channels");
  return contiguous(bias.to(DType::F32));
}

}  // namespace

Tensor conv2d_quantized(const Tensor& x, const quant::PackedQuantB& w, const Shape& weight_shape,
                        const Tensor& bias, const Conv2dOptions& options, const std::string& name) {
  KILN_CHECK(!grad_enabled() || !x.requires_grad(), "'", name, "' is quantized (",
             quant::format_name(w.format()), "): it cannot take part in autograd (input ",
             x.describe(), " requires grad); quantized models run inference only");
  const Geometry g = geometry(x, weight_shape, options, name);
  KILN_CHECK(w.n() == g.cout && w.k() == g.k(), "'", name, "': quantized weight [", w.n(), ", ",
             w.k(), "] is not the GEMM of a [", g.cout, ", ", g.cin, ", ", g.kh, ", ", g.kw,
             "] convolution");
  NoGradGuard ng;
  const Tensor xf = f32_input(x), b = f32_bias(bias, g.cout, name);
  Tensor out = Tensor::empty({g.n, g.cout, g.oh, g.ow}, DType::F32);
  const int64_t rows = g.n * g.pixels(), K = g.k(), chunk = chunk_rows(K);
  if (rows == 0 || g.cout == 0) return out;
  gemm::Epilogue ep;
  if (b.defined()) ep.bias = b.data<float>();
  const float* xp = xf.data<float>();
  float* op = out.data<float>();
  parallel_for(0, (rows + chunk - 1) / chunk, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t ci = cb; ci < ce; ++ci) {
      const int64_t r0 = ci * chunk, m = std::min(chunk, rows - r0);
      float* a = grow_scratch(t_rows, m * K);
      float* y = grow_scratch(t_out, m * g.cout);
      gather_rows(g, xp, r0, m, a);
      // Convolution rows: f32 activations whatever the chunk size (core/qgemm.h, Q4FewRows).
      quant::linear_quant(m, a, K, w, y, g.cout, ep, quant::Q4FewRows::kF32);
      scatter_rows(g, y, r0, m, op);
    }
  });
  return out;
}

void for_each_receptive_chunk(const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& options, int64_t chunk,
                              const std::function<void(const Tensor& rows)>& fn) {
  const Geometry g = geometry(x, weight_shape, options, "convolution");
  KILN_CHECK(chunk > 0, "for_each_receptive_chunk: chunk must be positive, got ", chunk);
  NoGradGuard ng;
  const Tensor xf = f32_input(x);
  const int64_t rows = g.n * g.pixels(), K = g.k();
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t m = std::min(chunk, rows - r0);
    Tensor part = Tensor::empty({m, K}, DType::F32);
    gather_rows(g, xf.data<float>(), r0, m, part.data<float>());
    fn(part);
  }
}

Tensor conv2d_quantized_reference(const Tensor& x, quant::Format format, const Tensor& rows,
                                  const Shape& weight_shape, const Tensor& bias,
                                  const Conv2dOptions& options) {
  const Geometry g = geometry(x, weight_shape, options, "reference");
  KILN_CHECK(rows.dtype() == DType::U8 && rows.is_contiguous() && rows.dim() == 2 &&
                 rows.size(0) == g.cout &&
                 rows.size(1) == static_cast<int64_t>(quant::row_bytes(format, g.k())),
             "conv2d_quantized_reference: rows ", rows.describe(), " do not hold the weight");
  NoGradGuard ng;
  const Tensor xf = f32_input(x), b = f32_bias(bias, g.cout, "reference");
  const int64_t m = g.n * g.pixels(), K = g.k();
  std::vector<float> a(static_cast<size_t>(m * K)), y(static_cast<size_t>(m * g.cout));
  gather_rows(g, xf.data<float>(), 0, m, a.data());
  gemm::Epilogue ep;
  if (b.defined()) ep.bias = b.data<float>();
  quant::linear_quant_reference(format, m, g.cout, K, a.data(), K,
                                static_cast<const uint8_t*>(rows.raw_data()), y.data(), g.cout, ep);
  Tensor out = Tensor::empty({g.n, g.cout, g.oh, g.ow}, DType::F32);
  scatter_rows(g, y.data(), 0, m, out.data<float>());
  return out;
}

}  // namespace kiln::nn
