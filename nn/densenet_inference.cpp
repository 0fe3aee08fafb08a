#include "nn/densenet_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/kernels/bn_relu_rows.h"
#include "core/kernels/winograd_f2x3.h"
#include "core/ops.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "nn/densenet_stem.h"
#include "nn/float_buffers.h"
#include "nn/quantized_conv.h"

namespace kiln::nn {

struct DenseNetInference::Layer {
  Affine norm1;
  std::unique_ptr<gemm::PackedB> w1;  // [cin, inner]: conv1 with norm2 folded in
  std::vector<float> b1;              // its bias (from norm2)
  // conv2 as Winograd F(4x4, 3x3) transformed weights [36][inner][growth].
  std::vector<float> u2;
  // Quantized instead (w1 / w2 then empty): conv1's [inner, cin] GEMM followed by norm2 + relu,
  // conv2's [growth, inner * 9] GEMM on gathered rows: int8 with each row's k reordered to
  // (i, j, c) (q2_tap_major), q4 in the file's (c, i, j).
  std::shared_ptr<const quant::PackedQuantB> q1, q2;
  bool q2_tap_major = false;
  Affine norm2;
};

struct DenseNetInference::Transition {
  Affine norm;
  std::unique_ptr<gemm::PackedB> w;              // [cin, cout]
  std::shared_ptr<const quant::PackedQuantB> q;  // or quantized: [cout, cin]
  int64_t cout() const { return q ? q->n() : w->n(); }
};

namespace {

using Affine = DenseNetInference::Affine;

std::vector<float> floats(const Tensor& t) {
  return floats_of(t, "densenet inference");
}

Affine affine_of(const BatchNorm2d& bn) {
  const std::vector<float> g = floats(bn.weight), b = floats(bn.bias), m = floats(bn.running_mean),
                           v = floats(bn.running_var);
  Affine a;
  a.scale.resize(g.size()), a.shift.resize(g.size());
  for (size_t c = 0; c < g.size(); ++c) {
    const float invstd = static_cast<float>(1.0 / std::sqrt(double(v[c]) + bn.eps));
    a.scale[c] = invstd * g[c];
    a.shift[c] = b[c] - m[c] * a.scale[c];
  }
  return a;
}

// A 1x1 conv weight [cout, cin, 1, 1] as the packed GEMM operand [cin, cout].
std::unique_ptr<gemm::PackedB> pack_pointwise(const Tensor& w) {
  const std::vector<float> v = floats(w);
  const int64_t cout = w.size(0), cin = w.size(1);
  return std::make_unique<gemm::PackedB>(/*trans_b=*/true, cin, cout, v.data(), cin);
}

thread_local std::vector<float> t_rows, t_out;

// A quantized conv0 (NCHW, as the float stem runs through the conv op), then norm0 as its affine
// map when there is one (`norm` empty: the small stem has none).
Tensor quantized_stem(const Tensor& x, const quant::PackedQuantB& q, const Shape& shape,
                      const Affine& norm, const Conv2dOptions& c0) {
  Tensor y = conv2d_quantized(x, q, shape, Tensor(), c0, "features.conv0.weight");
  if (norm.scale.empty()) return y;
  const int64_t c = y.size(1), plane = y.size(2) * y.size(3);
  float* p = y.data<float>();
  parallel_for(0, y.size(0) * c, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float s = norm.scale[r % c], t = norm.shift[r % c];
      for (float *v = p + r * plane, *end = v + plane; v < end; ++v) *v = *v * s + t;
    }
  });
  return y;
}

// The 3x3 conv's rows for output pixels (y0 + y, x), y < nb, x < w, of one channels-last image
// [h, w, inner] (zero padding 1: taps outside the image are zeros): each row the 3x3 x inner
// receptive field, in the quantized weight's (c, i, j) order, or tap-major (i, j, c): nine
// contiguous copies of a pixel's channels.
void gather_3x3_rows(const float* img, int64_t h, int64_t w, int64_t inner, int64_t y0, int64_t nb,
                     bool tap_major, float* dst) {
  const int64_t k = inner * 9;
  for (int64_t y = 0; y < nb; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float* d = dst + (y * w + x) * k;
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const int64_t yy = y0 + y + i - 1, xx = x + j - 1;
          const bool in = yy >= 0 && yy < h && xx >= 0 && xx < w;
          const float* s = in ? img + (yy * w + xx) * inner : nullptr;
          if (tap_major) {
            float* t = d + (i * 3 + j) * inner;
            if (in)
              std::memcpy(t, s, static_cast<size_t>(inner) * sizeof(float));
            else
              std::fill(t, t + inner, 0.0f);
          } else {
            for (int64_t c = 0; c < inner; ++c) d[c * 9 + i * 3 + j] = in ? s[c] : 0.0f;
          }
        }
    }
}

// An int8 3x3 weight's rows with k reordered from (c, i, j) to (i, j, c), scales unchanged. Exact
// for int8: a row's activation range and its integer dot product do not depend on the order of
// k, so the results are the file order's bit for bit, and the rows gather by whole pixels.
std::shared_ptr<const quant::PackedQuantB> int8_tap_major(const quant::PackedQuantB& q,
                                                          int64_t inner) {
  const int64_t n = q.n(), k = q.k();
  const size_t rb = quant::row_bytes(quant::Format::Int8, k);
  std::vector<uint8_t> canon(static_cast<size_t>(n) * rb), perm(canon.size());
  q.unpack(canon.data());
  for (int64_t o = 0; o < n; ++o) {
    const uint8_t* src = canon.data() + o * rb;
    uint8_t* dst = perm.data() + o * rb;
    for (int64_t c = 0; c < inner; ++c)
      for (int64_t t = 0; t < 9; ++t) dst[t * inner + c] = src[c * 9 + t];
    std::memcpy(dst + k, src + k, rb - static_cast<size_t>(k));  // the row's f32 scale
  }
  return std::make_shared<const quant::PackedQuantB>(quant::Format::Int8, n, k, perm.data());
}

// Row chunk for an operand of `width` floats per row: about 64K floats (256 KiB, stays in L2), a
// multiple of 8 rows (the micro-kernel's tile height), and at least ~8 chunks where there are
// enough rows so that both cores get work at batch 1.
int64_t row_chunk(int64_t rows, int64_t width) {
  int64_t c = std::clamp<int64_t>(65536 / std::max<int64_t>(width, 1), 16, 512);
  c = std::min(c, std::max<int64_t>(16, rows / 8));
  return (c + 7) / 8 * 8;
}

// Tiles per Winograd task: at most 32 (the transformed inputs, 32 x 16 x 128 floats, stay in L2),
// a multiple of 8 (the products' register tile), and small enough that the tiles of the whole
// batch make at least ~8 tasks for the two cores to share.
int64_t winograd_chunk(int64_t tiles) {
  return std::clamp<int64_t>((tiles / 8 + 7) / 8 * 8, 8, 32);
}

// relu0 + pool0 (3x3, stride 2, padding 1) of the stem conv's NCHW output [n, c, h1, w1], written
// as pixel rows (ldo apart) of the first block's buffer. relu(max(window)) = max(0, window's
// valid values): every window holds at least one, so this is exactly max_pool2d(relu(x)), and a
// zero stands in for the padding (it cannot change a maximum that includes 0). Per output image
// row and channel: the vertical maximum of the window's rows into a zero-bordered row (a loop the
// compiler vectorises), then the horizontal maxima at stride 2, into a [c, ow] tile that is
// transposed into the buffer. (The same maxima as a window-by-window loop, so the same bits; the
// scalar window loop was 2.6% of a 1 x 224^2 forward.)
void stem_relu_maxpool(const float* s, int64_t n, int64_t c, int64_t h1, int64_t w1, float* out,
                       int64_t ldo) {
  const int64_t oh = (h1 - 1) / 2 + 1, ow = (w1 - 1) / 2 + 1;
  parallel_for(0, n * oh, 4, [&](int64_t rb, int64_t re) {
    // vmax[1 + x] = max(0, rows' x); vmax[0] and past w1: 0 (padding), 2 * ow + 1 entries.
    std::vector<float> vmax(static_cast<size_t>(2 * ow + 2), 0.0f),
        tile(static_cast<size_t>(c * ow));
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / oh, oy = r % oh;
      const int64_t y0 = std::max<int64_t>(0, 2 * oy - 1), y1 = std::min(h1 - 1, 2 * oy + 1);
      for (int64_t k = 0; k < c; ++k) {
        float* __restrict v = vmax.data() + 1;
        for (int64_t x = 0; x < w1; ++x) v[x] = 0.0f;
        for (int64_t iy = y0; iy <= y1; ++iy) {
          const float* __restrict row = s + ((img * c + k) * h1 + iy) * w1;
          for (int64_t x = 0; x < w1; ++x) v[x] = row[x] > v[x] ? row[x] : v[x];
        }
        const float* __restrict p = vmax.data();  // p[2x .. 2x + 2]: window of output x
        float* __restrict t = tile.data() + k * ow;
        for (int64_t x = 0; x < ow; ++x) {
          const float a = p[2 * x], b = p[2 * x + 1], d = p[2 * x + 2];
          const float m = a > b ? a : b;
          t[x] = m > d ? m : d;
        }
      }
      for (int64_t x = 0; x < ow; ++x) {
        float* dst = out + ((img * oh + oy) * ow + x) * ldo;
        for (int64_t k = 0; k < c; ++k) dst[k] = tile[k * ow + x];
      }
    }
  });
}

// The small stem's NCHW conv output [n, c, h, w] as pixel rows (ldo apart) of the first block's
// buffer: a plain transpose (no norm, ReLU or pool follows that conv).
void stem_to_rows(const float* s, int64_t n, int64_t c, int64_t h, int64_t w, float* out,
                  int64_t ldo) {
  parallel_for(0, n * h, 4, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / h, y = r % h;
      for (int64_t k = 0; k < c; ++k) {
        const float* src = s + ((img * c + k) * h + y) * w;
        float* dst = out + r * w * ldo + k;
        for (int64_t x = 0; x < w; ++x) dst[x * ldo] = src[x];
      }
    }
  });
}

}  // namespace

DenseNetInference::DenseNetInference(const DenseNet& net)
    : growth_(net.config().growth_rate),
      inner_(net.config().bn_size * net.config().growth_rate),
      small_stem_(net.config().small_stem()) {
  NoGradGuard ng;
  if (net.conv0->quantized()) {
    stem_q_ = net.conv0->quantized();
    stem_shape_ = net.conv0->weight.shape();
    if (!small_stem_) stem_norm_ = affine_of(*net.norm0);
  } else if (small_stem_) {  // no norm0 to fold: conv0 as it is (a copy: this is a snapshot)
    stem_weight_ = net.conv0->weight.clone();
  } else {
    const FoldedConv stem = fold_batch_norm_into_conv(
        net.conv0->weight, net.conv0->bias, net.norm0->weight, net.norm0->bias,
        net.norm0->running_mean, net.norm0->running_var, net.norm0->eps);
    stem_ = std::make_unique<PackedStem>(stem.weight, stem.bias, /*stride=*/2, /*padding=*/3);
  }
  for (const auto& block : net.blocks) {
    blocks_.emplace_back();
    for (const auto& l : block) {
      Layer L;
      L.norm1 = affine_of(*l->norm1);
      KILN_CHECK(!l->conv1->bias.defined() && !l->conv2->bias.defined(),
                 "densenet inference: dense-layer convs have no bias");
      if (l->conv1->quantized()) {
        L.q1 = l->conv1->quantized();
        L.norm2 = affine_of(*l->norm2);
      } else {
        const FoldedConv f = fold_batch_norm_into_conv(
            l->conv1->weight, l->conv1->bias, l->norm2->weight, l->norm2->bias,
            l->norm2->running_mean, l->norm2->running_var, l->norm2->eps);
        L.w1 = pack_pointwise(f.weight);
        L.b1 = floats(f.bias);
      }
      KILN_CHECK(l->conv2->weight.size(2) == 3 && l->conv2->weight.size(3) == 3,
                 "densenet inference: conv2 must be 3x3");
      if (l->conv2->quantized()) {
        L.q2 = l->conv2->quantized();
        if (L.q2->format() == quant::Format::Int8) {
          L.q2 = int8_tap_major(*L.q2, inner_);
          L.q2_tap_major = true;
        }
        blocks_.back().push_back(std::move(L));
        continue;
      }
      L.u2 = kernels::winograd_f4x3_weights(floats(l->conv2->weight).data(), growth_, inner_);
      blocks_.back().push_back(std::move(L));
    }
  }
  for (const auto& t : net.transitions) {
    Transition T;
    T.norm = affine_of(*t->norm);
    KILN_CHECK(!t->conv->bias.defined(), "densenet inference: transition conv has a bias");
    if (t->conv->quantized())
      T.q = t->conv->quantized();
    else
      T.w = pack_pointwise(t->conv->weight);
    transitions_.push_back(std::move(T));
  }
  norm5_ = affine_of(*net.norm5);
}

DenseNetInference::~DenseNetInference() = default;

Tensor DenseNetInference::pooled_features(const Tensor& x) const {
  NoGradGuard ng;
  KILN_CHECK(x.dim() == 4 && x.size(1) == 3 && x.dtype() == DType::F32,
             "densenet: pixel_values must be f32 [N, 3, H, W], got ", x.describe());
  // Stem through the conv op (NCHW), then into the first block's buffer: imagenet = conv0 7x7/2
  // (norm0 folded) + relu + max pool; small = conv0 3x3/1 alone.
  int64_t ch, h, w, ctot;
  Tensor buf;
  if (stem_) {  // imagenet float stem: straight into the first block's rows (nn/densenet_stem.h)
    const int64_t n = x.size(0);
    std::tie(h, w) = stem_->output_size(x.size(2), x.size(3));
    ch = stem_->cout(), ctot = ch + static_cast<int64_t>(blocks_[0].size()) * growth_;
    buf = Tensor::empty({n * h * w, ctot});
    stem_->forward(x, buf.data<float>(), ctot);
  } else {
    Conv2dOptions c0;
    if (small_stem_)
      c0.padding = {1, 1};
    else
      c0.stride = {2, 2}, c0.padding = {3, 3};
    const Tensor conv = stem_q_ ? quantized_stem(x, *stem_q_, stem_shape_, stem_norm_, c0)
                                : conv2d(x, stem_weight_, Tensor(), c0);
    const int64_t n = conv.size(0), h1 = conv.size(2), w1 = conv.size(3);
    ch = conv.size(1), h = h1, w = w1;
    if (!small_stem_) h = (h1 - 1) / 2 + 1, w = (w1 - 1) / 2 + 1;  // 3x3 / 2, padding 1
    ctot = ch + static_cast<int64_t>(blocks_[0].size()) * growth_;
    buf = Tensor::empty({n * h * w, ctot});
    if (small_stem_)
      stem_to_rows(conv.data<float>(), n, ch, h, w, buf.data<float>(), ctot);
    else
      stem_relu_maxpool(conv.data<float>(), n, ch, h1, w1, buf.data<float>(), ctot);
  }
  const int64_t n = x.size(0);

  const int64_t inner = inner_, g = growth_;
  gemm::Epilogue relu_ep;
  relu_ep.activation = kernels::relu_f32;
  for (size_t b = 0; b < blocks_.size(); ++b) {
    // The bottleneck activations [n * h * w, inner], rows of pixels like the block buffer; the
    // 3x3 conv's zero padding is the Winograd kernel's (edge tiles read zeros outside the image).
    const int64_t rows = n * h * w;
    Tensor ybuf = Tensor::empty({rows, inner});
    float* yb = ybuf.data<float>();
    float* bp = buf.data<float>();
    for (const Layer& L : blocks_[b]) {
      const int64_t cin = ch;
      // 1x1: relu(norm1(rows)) @ W1 + b1 -> relu, one GEMM per chunk of rows (any rows: the
      // buffers have no borders), chunk boundaries a function of the shapes only.
      const int64_t rc = row_chunk(rows, cin);
      gemm::Epilogue ep = relu_ep;
      ep.bias = L.b1.data();
      parallel_for(0, (rows + rc - 1) / rc, 1, [&](int64_t cb, int64_t ce) {
        for (int64_t ci = cb; ci < ce; ++ci) {
          const int64_t r0 = ci * rc, m = std::min(rc, rows - r0);
          float* a = grow_scratch(t_rows, m * cin);
          kernels::bn_relu_rows(bp + r0 * ctot, ctot, m, cin, L.norm1.scale.data(),
                                L.norm1.shift.data(), a, cin);
          if (L.q1) {  // quantized: the GEMM, then norm2 + relu as an affine pass
            // Convolution rows: f32 activations whatever the chunk (core/qgemm.h, Q4FewRows).
            float* o = grow_scratch(t_out, m * inner);
            quant::linear_quant(m, a, cin, *L.q1, o, inner, {}, quant::Q4FewRows::kF32);
            kernels::bn_relu_rows(o, inner, m, inner, L.norm2.scale.data(), L.norm2.shift.data(),
                                  yb + r0 * inner, inner);
          } else {
            gemm::sgemm_packed_b(false, m, 1.0f, a, cin, *L.w1, 0.0f, yb + r0 * inner, inner, ep);
          }
        }
      });
      // 3x3: the quantized weights on gathered rows, per band of image rows; float weights by
      // Winograd F(4x4, 3x3) per range of 4x4 output tiles (core/kernels/winograd_f2x3.h).
      if (L.q2) {
        const int64_t band =
            std::clamp<int64_t>(192 / (w + 2), 1, std::max<int64_t>(1, (n * h + 7) / 8));
        const int64_t bands = (h + band - 1) / band;
        parallel_for(0, n * bands, 1, [&](int64_t tb, int64_t te) {
          for (int64_t t = tb; t < te; ++t) {
            const int64_t img = t / bands, y0 = (t % bands) * band, nb = std::min(band, h - y0);
            float* a = grow_scratch(t_rows, nb * w * inner * 9);
            gather_3x3_rows(yb + img * h * w * inner, h, w, inner, y0, nb, L.q2_tap_major, a);
            quant::linear_quant(nb * w, a, inner * 9, *L.q2, bp + ((img * h + y0) * w) * ctot + cin,
                                ctot, {}, quant::Q4FewRows::kF32);
          }
        });
      } else {
        const int64_t tiles = ((h + 3) / 4) * ((w + 3) / 4), chunk = winograd_chunk(n * tiles);
        const int64_t per_img = (tiles + chunk - 1) / chunk;
        parallel_for(0, n * per_img, 1, [&](int64_t tb, int64_t te) {
          for (int64_t t = tb; t < te; ++t) {
            const int64_t img = t / per_img, t0 = (t % per_img) * chunk;
            const int64_t count = std::min(chunk, tiles - t0);
            const kernels::WinogradImage im{yb + img * h * w * inner, w, inner, h, w};
            kernels::winograd_f4x3_tiles(
                im, L.u2.data(), g, t0, count, bp + img * h * w * ctot + cin, ctot,
                grow_scratch(t_rows, kernels::winograd_f4x3_scratch_floats(count, inner, g)));
          }
        });
      }
      ch += g;
    }
    if (b == transitions_.size()) break;
    // Transition: relu(norm(x)) -> 2x2 average pool -> 1x1 conv, straight into the next block's
    // buffer (its first cout channels).
    KILN_CHECK(h >= 2 && w >= 2, "densenet: pixel_values ", x.describe(),
               " are too small: transition", b + 1, " would average-pool a ", h, "x", w,
               " feature map with a 2x2 window");
    const Transition& T = transitions_[b];
    const int64_t cout = T.cout(), oh = h / 2, ow = w / 2, orows = oh * ow;
    const int64_t nctot = cout + static_cast<int64_t>(blocks_[b + 1].size()) * g;
    Tensor next = Tensor::empty({n * orows, nctot});
    float* np = next.data<float>();
    const int64_t rc = row_chunk(n * orows, ch);
    const int64_t per_img = (orows + rc - 1) / rc;
    parallel_for(0, n * per_img, 1, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        const int64_t img = t / per_img, o0 = (t % per_img) * rc, m = std::min(rc, orows - o0);
        float* a = grow_scratch(t_rows, m * ch);
        kernels::bn_relu_avgpool2_rows(bp + img * h * w * ctot, ctot, h, w, ch, T.norm.scale.data(),
                                       T.norm.shift.data(), o0, m, a, ch);
        if (T.q)
          quant::linear_quant(m, a, ch, *T.q, np + (img * orows + o0) * nctot, nctot, {},
                              quant::Q4FewRows::kF32);
        else
          gemm::sgemm_packed_b(false, m, 1.0f, a, ch, *T.w, 0.0f, np + (img * orows + o0) * nctot,
                               nctot);
      }
    });
    buf = next, ctot = nctot, ch = cout, h = oh, w = ow;
  }
  // norm5 -> relu -> global average pool, per image.
  Tensor pooled = Tensor::empty({n, ch});
  const float* bp = buf.data<float>();
  float* pp = pooled.data<float>();
  parallel_for(0, n, 1, [&](int64_t ib, int64_t ie) {
    for (int64_t i = ib; i < ie; ++i)
      kernels::bn_relu_mean_rows(bp + i * h * w * ctot, ctot, h * w, ch, norm5_.scale.data(),
                                 norm5_.shift.data(), pp + i * ch);
  });
  return pooled;
}

}  // namespace kiln::nn
