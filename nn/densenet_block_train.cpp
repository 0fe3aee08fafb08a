#include "nn/densenet_block_train.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/conv_ops.h"
#include "core/gemm.h"
#include "core/kernels/bf16_convert.h"
#include "core/kernels/bn_relu_rows.h"
#include "core/kernels/bn_rows_train.h"
#include "core/kernels/channels_last_transpose.h"
#include "core/kernels/winograd_f2x3.h"
#include "core/op_registry.h"
#include "core/thread_pool.h"
#include "nn/densenet.h"
#include "nn/densenet_train_rows.h"
#include "nn/float_buffers.h"

namespace kiln::nn {
namespace {

// Not in the op registry (KILN_OP), whose every entry the core op harness checks against f64
// references: this node composes registered ops (batch_norm_relu, conv2d, concat) for f32 only,
// and tests/nn/densenet_block_train_test.cpp checks it against exactly that composition.
const OpInfo kDenseBlockTrainOp{"densenet_block_train", true};

thread_local std::vector<float> t_scratch;
thread_local std::vector<uint16_t> t_half;

// A contiguous f32 tensor's values rounded to bf16.
std::vector<uint16_t> bf16_of(const Tensor& t) {
  std::vector<uint16_t> v(static_cast<size_t>(t.numel()));
  kernels::f32_to_bf16_array(cf(t), v.data(), t.numel());
  return v;
}

// dst[c * ldd + r] = src[r * cols + c], per chunk of rows in parallel; transpose_to_bf16 rounds
// the values too (so that they are a bf16 GEMM's row-major A, which the kernel reads in place).
void transpose_rows(const float* src, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  over_rows(rows, cols, [&](int64_t r0, int64_t m) {
    kernels::pixels_to_planes(src + r0 * cols, cols, cols, m, nullptr, dst + r0, ldd);
  });
}
void transpose_to_bf16(const float* src, int64_t rows, int64_t cols, uint16_t* dst, int64_t ldd) {
  over_rows(rows, cols, [&](int64_t r0, int64_t m) {
    float* t = grow_scratch(t_scratch, m * cols);
    kernels::pixels_to_planes(src + r0 * cols, cols, cols, m, nullptr, t, m);
    kernels::f32_to_bf16_block(t, m, cols, m, dst + r0, ldd);
  });
}

struct Geometry {
  int64_t n, h, w;
  int64_t pixels() const { return n * h * w; }
  // The zero-bordered grid [n, h + 2, w + 2] of the 3x3 convolution's operands.
  int64_t padded_pixels() const { return n * (h + 2) * (w + 2); }
  int64_t padded_row(int64_t img, int64_t y, int64_t x) const {
    return (img * (h + 2) + y + 1) * (w + 2) + x + 1;
  }
};

// conv1 of a layer: relu(rows * scale + shift) @ W1^T for `channels` channels of rows (ldx
// apart) into y [rows, w1.n()], per chunk of rows: the normalised chunk stays in L2 as the GEMM's
// A operand (read in place) against W1 packed once. A row's result does not depend on the chunk
// it is in, so forward and the checkpointed recompute give the same bits.
void conv1_rows(const float* x, int64_t ldx, int64_t rows, int64_t channels, const float* scale,
                const float* shift, const gemm::PackedB& w1, float* y) {
  over_rows(rows, channels, [&](int64_t r0, int64_t m) {
    float* a = grow_scratch(t_scratch, m * channels);
    kernels::bn_relu_rows(x + r0 * ldx, ldx, m, channels, scale, shift, a, channels);
    gemm::sgemm_packed_b(false, m, 1.0f, a, channels, w1, 0.0f, y + r0 * w1.n(), w1.n());
  });
}

// conv1 under bf16 autocast: the normalised chunk rounded to bf16 and multiplied by W1 rounded to
// bf16 (w1h [inner, channels]), f32 accumulation (gemm::bf16gemm, as linear under autocast).
// Chunks of at least 256 rows, as the bf16 kernel packs W1 per call; a row's result does not
// depend on its chunk.
void conv1_rows_bf16(const float* x, int64_t ldx, int64_t rows, int64_t channels,
                     const float* scale, const float* shift, const uint16_t* w1h, int64_t inner,
                     float* y) {
  const int64_t rc = std::clamp<int64_t>(262144 / std::max<int64_t>(channels, 1), 256, 2048);
  parallel_for(0, (rows + rc - 1) / rc, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t r0 = i * rc, m = std::min(rc, rows - r0);
      uint16_t* ah = grow_scratch(t_half, m * channels);
      kernels::bn_relu_rows_bf16(x + r0 * ldx, ldx, m, channels, scale, shift, nullptr, 0, ah,
                                 channels);
      gemm::bf16gemm(false, true, m, inner, channels, 1.0f, ah, channels, w1h, channels, 0.0f,
                     y + r0 * inner, inner);
    }
  });
}

// conv1 of a layer (weight w1 [inner, channels, 1, 1], contiguous) in the block's precision.
void conv1_forward(bool bf16, const Tensor& w1, const float* x, int64_t ldx, int64_t rows,
                   int64_t channels, const float* scale, const float* shift, float* y) {
  const int64_t inner = w1.size(0);
  if (bf16) {
    const std::vector<uint16_t> w1h = bf16_of(w1);
    conv1_rows_bf16(x, ldx, rows, channels, scale, shift, w1h.data(), inner, y);
  } else {
    const gemm::PackedB w1p(/*trans_b=*/true, channels, inner, cf(w1), channels);
    conv1_rows(x, ldx, rows, channels, scale, shift, w1p, y);
  }
}

// The same into the interior of a zero-bordered grid (the border zeroed here).
void bn_relu_to_padded(const Geometry& g, const float* x, int64_t ldx, int64_t channels,
                       const float* scale, const float* shift, float* grid) {
  const int64_t pw = g.w + 2, ph = g.h + 2;
  parallel_for(0, g.n * ph, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t img = r / ph, py = r % ph;
      float* row = grid + r * pw * channels;
      if (py == 0 || py == ph - 1) {
        std::fill(row, row + pw * channels, 0.0f);
        continue;
      }
      std::fill(row, row + channels, 0.0f);
      std::fill(row + (pw - 1) * channels, row + pw * channels, 0.0f);
      const float* src = x + ((img * g.h + py - 1) * g.w) * ldx;
      kernels::bn_relu_rows(src, ldx, g.w, channels, scale, shift, row + channels, channels);
    }
  });
}

// Channels [c0, c0 + channels) of rows (ld apart) copied into the interior of a zero-bordered
// grid of `channels` per pixel.
void rows_to_padded(const Geometry& g, const float* src, int64_t ld, int64_t c0, int64_t channels,
                    float* grid) {
  const int64_t pw = g.w + 2, ph = g.h + 2;
  parallel_for(0, g.n * ph, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t img = r / ph, py = r % ph;
      float* row = grid + r * pw * channels;
      std::fill(row, row + pw * channels, 0.0f);
      if (py == 0 || py == ph - 1) continue;
      for (int64_t x = 0; x < g.w; ++x)
        std::memcpy(row + (x + 1) * channels, src + ((img * g.h + py - 1) * g.w + x) * ld + c0,
                    static_cast<size_t>(channels) * sizeof(float));
    }
  });
}

// Winograd F(2x2, 3x3), zero padding 1: the interior of the zero-bordered grid `grid` (cin per
// pixel) convolved with transformed weights u, output pixel rows into out (ldo apart, cout
// channels). With uh (u rounded to bf16: winograd_f2x3_weights_bf16) the products take bf16
// operands (bf16 autocast, where winograd_f2x3_bf16_available).
void winograd_3x3(const Geometry& g, const float* grid, int64_t cin, const float* u, int64_t cout,
                  float* out, int64_t ldo, const uint16_t* uh = nullptr) {
  const int64_t tiles = ((g.h + 1) / 2) * ((g.w + 1) / 2);
  const int64_t chunk = std::clamp<int64_t>((g.n * tiles / 8 + 7) / 8 * 8, 8, 32);
  const int64_t per_img = (tiles + chunk - 1) / chunk;
  parallel_for(0, g.n * per_img, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const int64_t img = t / per_img, t0 = (t % per_img) * chunk;
      const int64_t count = std::min(chunk, tiles - t0);
      const kernels::WinogradImage im{grid + g.padded_row(img, 0, 0) * cin, g.w + 2, cin, g.h, g.w};
      float* o = out + img * g.h * g.w * ldo;
      if (uh)
        kernels::winograd_f2x3_tiles_bf16(
            im, uh, cout, t0, count, o, ldo,
            grow_scratch(t_scratch, kernels::winograd_f2x3_bf16_scratch_floats(count, cin, cout)));
      else
        kernels::winograd_f2x3_tiles(
            im, u, cout, t0, count, o, ldo,
            grow_scratch(t_scratch, kernels::winograd_f2x3_scratch_floats(count, cin, cout)));
    }
  });
}

// The 3x3 convolution's weight gradient dw [cout, cin, 3, 3] from its input `a` and output
// gradient `gy`, both on the zero-bordered grid: for tap k = (i, j) at row offset
// off = (i - 1) * (w + 2) + (j - 1), dw[., ., k] = sum over grid positions q of gy[q]^T a[q + off]
// (positions whose shifted reads would leave the grid are border positions, where gy is zero).
// Per chunk of kTapRows positions, all nine GEMMs run while the chunk's rows of `a` are in L2
// (nine GEMMs over the whole grid each read it from memory: 3x slower at 56 x 56). The chunks
// are summed in kTapGroups fixed groups, each into its own partial, and the groups in order, so
// the sums depend on the shapes only.
constexpr int64_t kTapRows = 256, kTapGroups = 8;
// tap_gemm(q, qa, m, dst) adds into dst [cin, cout] (dW's transpose for one tap) the product of
// the input's transposed rows at grid positions [qa, qa + m) and the output gradient's rows [q, q
// + m): the input's transpose is then the GEMM's A, read in place, and only gy's small [m, cout]
// block is packed per tap (dW = gy^T a the other way round packed a [m, cin] block per tap, 9x
// the grid per layer).
template <class TapGemm>
void conv3x3_weight_grad(const Geometry& g, int64_t cout, int64_t cin, float* dw,
                         TapGemm tap_gemm) {
  const int64_t pw = g.w + 2, q0 = pw + 1, span = g.padded_pixels() - 2 * q0;
  const int64_t chunks = (span + kTapRows - 1) / kTapRows;
  const int64_t groups = std::min(kTapGroups, chunks), per_tap = cout * cin;
  Tensor part = Tensor::zeros({groups, 9, cin, cout});
  float* pp = part.data<float>();
  parallel_for(0, groups, 1, [&](int64_t gb, int64_t ge) {
    for (int64_t grp = gb; grp < ge; ++grp)
      for (int64_t ch = grp * chunks / groups; ch < (grp + 1) * chunks / groups; ++ch) {
        const int64_t q = q0 + ch * kTapRows, m = std::min(kTapRows, q0 + span - q);
        for (int64_t k = 0; k < 9; ++k) {
          const int64_t off = (k / 3 - 1) * pw + (k % 3 - 1);
          tap_gemm(q, q + off, m, pp + (grp * 9 + k) * per_tap);
        }
      }
  });
  std::vector<float> taps(static_cast<size_t>(9 * per_tap));  // [9][cin][cout]
  sum_partials(pp, groups, 9 * per_tap, taps.data());
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t k = 0; k < 9; ++k) dw[(o * cin + c) * 9 + k] = taps[k * per_tap + c * cout + o];
}

// The Winograd F(2x2, 3x3) weights of the input gradient's convolution (the kernel flipped, its
// channels swapped: w'[c][o][i][j] = w[o][c][2 - i][2 - j]) from the forward's u [16][cin][cout].
// With J the flip, G J = S G where S swaps G's rows 0 and 3 (rows 1 and 2 are symmetric), so
// G w' G^T = S (G w G^T) S^T: tile position (r, s) of the flipped kernel's transform is position
// (sigma(r), sigma(s)) of the kernel's, sigma swapping 0 and 3. A permutation, so exact.
std::vector<float> flipped_transposed_f2x3(const std::vector<float>& u, int64_t cout, int64_t cin) {
  constexpr int64_t sigma[4] = {3, 1, 2, 0};
  std::vector<float> t(u.size());
  parallel_for(0, 16, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t r = p / 4, q = p % 4;
      const float* src = u.data() + (sigma[r] * 4 + sigma[q]) * cin * cout;  // [cin][cout]
      float* dst = t.data() + (r * 4 + q) * cin * cout;                      // [cout][cin]
      for (int64_t c = 0; c < cin; ++c)
        for (int64_t o = 0; o < cout; ++o) dst[o * cin + c] = src[c * cout + o];
    }
  });
  return t;
}

struct LayerParams {
  Tensor g1, b1, w1, g2, b2, w2;  // norm1, conv1, norm2, conv2 (the op's inputs)
};

// Everything the backward reads.
struct Saved {
  Geometry geo{};
  int64_t c_in = 0, c_total = 0, growth = 0, inner = 0;
  Tensor rows;                // [pixels, c_total]: the block's features
  Stats stats;                // of every channel of rows
  std::vector<Tensor> conv1;  // per layer [pixels, inner]: norm2's input (unless recomputed)
  bool recompute_conv1 = false;
  // bf16 autocast was on: the GEMMs of conv1 (forward and both gradients), conv2's weight
  // gradient and the transition, and (with AMX) conv2's Winograd products took bf16 operands
  // with f32 accumulation, forward and backward alike.
  bool bf16 = false;
  std::vector<Stats> stats2;           // per layer, of conv1
  std::vector<std::vector<float>> u2;  // per layer, conv2's Winograd weights
  std::vector<LayerParams> params;
  // With the transition fused (transition.norm, .conv): its norm + ReLU + 2x2 average pool of
  // rows, [n * (h / 2) * (w / 2), c_total], conv's input (bf16 under bf16 autocast).
  bool transition = false;
  Tensor t_gamma, t_beta, t_weight, pooled;
};

std::vector<Tensor> block_backward(const Saved& s, const Tensor& grad_out);

// A convolution the block runs itself: float weight, no bias, not grouped, unit stride and
// dilation (kernel size and padding are checked by the caller).
bool plain_float_conv(const Conv2d& conv) {
  return !conv.quantized() && !conv.bias.defined() && conv.weight.dtype() == DType::F32 &&
         conv.options.groups == 1 && conv.options.stride == std::array<int64_t, 2>{1, 1} &&
         conv.options.dilation == std::array<int64_t, 2>{1, 1};
}

}  // namespace

bool dense_block_train_applies(const Tensor& x,
                               const std::vector<std::shared_ptr<DenseLayer>>& layers,
                               const Transition* transition) {
  if (layers.empty() || !grad_enabled() || x.dtype() != DType::F32 || x.dim() != 4) return false;
  if (x.size(0) * x.size(2) * x.size(3) < 2) return false;
  const double eps = layers[0]->norm1->eps;
  const int64_t inner = layers[0]->conv1->weight.size(0);
  const int64_t growth = layers[0]->conv2->weight.size(0);
  int64_t c = x.size(1);
  for (const auto& l : layers) {
    if (l->drop_rate > 0 || !plain_float_conv(*l->conv1) || !plain_float_conv(*l->conv2) ||
        !plain_training_norm(*l->norm1, eps) || !plain_training_norm(*l->norm2, eps))
      return false;
    const Shape w1 = l->conv1->weight.shape(), w2 = l->conv2->weight.shape();
    if (w1 != Shape{inner, c, 1, 1} || w2 != Shape{growth, inner, 3, 3} ||
        l->conv1->options.padding != std::array<int64_t, 2>{0, 0} ||
        l->conv2->options.padding != std::array<int64_t, 2>{1, 1})
      return false;
    c += growth;
  }
  if (transition) {
    const Conv2d& conv = *transition->conv;
    if (!plain_training_norm(*transition->norm, eps) || !plain_float_conv(conv) ||
        conv.options.padding != std::array<int64_t, 2>{0, 0} || conv.weight.dim() != 4 ||
        conv.weight.size(1) != c || conv.weight.size(2) != 1 || conv.weight.size(3) != 1)
      return false;
    // Smaller maps go to the op path, whose pooling names the problem.
    if (x.size(2) < 2 || x.size(3) < 2) return false;
  }
  return true;
}

Tensor dense_block_train(const Tensor& x_in, const std::vector<std::shared_ptr<DenseLayer>>& layers,
                         bool recompute_bottleneck, const Transition* transition) {
  KILN_CHECK(dense_block_train_applies(x_in, layers, transition),
             "densenet: the fused training block does not apply to input ", x_in.describe());
  auto saved = std::make_shared<Saved>();
  Saved& s = *saved;
  const Tensor x = x_in.detach().contiguous();
  s.geo = {x.size(0), x.size(2), x.size(3)};
  const Geometry& geo = s.geo;
  const int64_t P = geo.pixels(), hw = geo.h * geo.w, L = static_cast<int64_t>(layers.size());
  s.c_in = x.size(1);
  s.growth = layers[0]->conv2->weight.size(0);
  s.inner = layers[0]->conv1->weight.size(0);
  s.c_total = s.c_in + L * s.growth;
  s.recompute_conv1 = recompute_bottleneck;
  s.bf16 = bf16_autocast_enabled();
  const int64_t ct = s.c_total, inner = s.inner, growth = s.growth;
  const double eps = layers[0]->norm1->eps;

  s.rows = Tensor::empty({P, ct});
  float* rows = s.rows.data<float>();
  nchw_to_rows(cf(x), geo.n, s.c_in, hw, rows, ct);
  s.stats = Stats(ct);
  compute_stats(rows, ct, P, 0, s.c_in, eps, s.stats);

  Tensor a2 = Tensor::empty({geo.padded_pixels(), inner});  // conv2's input, zero-bordered
  std::vector<float> scale, shift;
  for (int64_t l = 0; l < L; ++l) {
    const DenseLayer& layer = *layers[static_cast<size_t>(l)];
    const int64_t c = s.c_in + l * growth;
    LayerParams p{layer.norm1->weight, layer.norm1->bias, layer.conv1->weight,
                  layer.norm2->weight, layer.norm2->bias, layer.conv2->weight};
    const Tensor w1 = p.w1.detach().contiguous(), w2 = p.w2.detach().contiguous();
    {
      const Tensor g = p.g1.detach().contiguous(), b = p.b1.detach().contiguous();
      affine(s.stats, cf(g), cf(b), c, scale, shift);
    }
    Tensor y1 = Tensor::empty({P, inner});
    conv1_forward(s.bf16, w1, rows, ct, P, c, scale.data(), shift.data(), y1.data<float>());
    Stats st2(inner);
    compute_stats(cf(y1), inner, P, 0, inner, eps, st2);
    {
      const Tensor g = p.g2.detach().contiguous(), b = p.b2.detach().contiguous();
      affine(st2, cf(g), cf(b), inner, scale, shift);
    }
    bn_relu_to_padded(geo, cf(y1), inner, inner, scale.data(), shift.data(), a2.data<float>());
    std::vector<float> u2 =
        kernels::winograd_f2x3_weights(floats_of(w2, "densenet training").data(), growth, inner);
    std::vector<uint16_t> u2h;
    if (s.bf16 && kernels::winograd_f2x3_bf16_available(growth))
      u2h = kernels::winograd_f2x3_weights_bf16(u2, inner, growth);
    winograd_3x3(geo, cf(a2), inner, u2.data(), growth, rows + c, ct,
                 u2h.empty() ? nullptr : u2h.data());
    s.u2.push_back(std::move(u2));
    compute_stats(rows, ct, P, c, c + growth, eps, s.stats);
    // The running statistics, as each norm's own batch_norm would update them.
    layer.norm1->track_batch(s.stats.mean.data(), s.stats.var.data(), P);
    layer.norm2->track_batch(st2.mean.data(), st2.var.data(), P);
    s.conv1.push_back(recompute_bottleneck ? Tensor() : y1);
    s.stats2.push_back(std::move(st2));
    s.params.push_back(std::move(p));
  }

  std::vector<Tensor> inputs = {x_in};
  for (const LayerParams& p : s.params)
    for (const Tensor* t : {&p.g1, &p.b1, &p.w1, &p.g2, &p.b2, &p.w2}) inputs.push_back(*t);
  Tensor out;
  if (!transition) {
    out = Tensor::empty({geo.n, ct, geo.h, geo.w});
    rows_to_nchw(rows, ct, geo.n, ct, hw, out.data<float>());
  } else {
    // The transition: relu(norm(rows)) average-pooled 2x2 (it commutes with the 1x1 conv, both
    // linear after the ReLU), then the conv on a quarter of the pixels.
    s.transition = true;
    s.t_gamma = transition->norm->weight, s.t_beta = transition->norm->bias;
    s.t_weight = transition->conv->weight;
    const Tensor g = s.t_gamma.detach().contiguous(), b = s.t_beta.detach().contiguous();
    const Tensor wt = s.t_weight.detach().contiguous();
    affine(s.stats, cf(g), cf(b), ct, scale, shift);
    const int64_t oh = geo.h / 2, ow = geo.w / 2, per_img = oh * ow, cout = wt.size(0);
    s.pooled = Tensor::empty({geo.n * per_img, ct});
    float* pooled = s.pooled.data<float>();
    parallel_for(0, geo.n * oh, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t img = r / oh, o0 = (r % oh) * ow;
        kernels::bn_relu_avgpool2_rows(rows + img * hw * ct, ct, geo.h, geo.w, ct, scale.data(),
                                       shift.data(), o0, ow, pooled + (img * per_img + o0) * ct,
                                       ct);
      }
    });
    Tensor out_rows = Tensor::empty({geo.n * per_img, cout});
    if (s.bf16) {  // the pooled rows kept in bf16: the weight gradient's operand
      Tensor pooled_h = Tensor::empty({geo.n * per_img, ct}, DType::BF16);
      kernels::f32_to_bf16_array(pooled, pooled_h.data<uint16_t>(), pooled_h.numel());
      const std::vector<uint16_t> wh = bf16_of(wt);
      gemm::bf16gemm(false, true, geo.n * per_img, cout, ct, 1.0f, pooled_h.data<uint16_t>(), ct,
                     wh.data(), ct, 0.0f, out_rows.data<float>(), cout);
      s.pooled = pooled_h;
    } else {
      gemm::sgemm(false, true, geo.n * per_img, cout, ct, 1.0f, pooled, ct, cf(wt), ct, 0.0f,
                  out_rows.data<float>(), cout);
    }
    out = Tensor::empty({geo.n, cout, oh, ow});
    rows_to_nchw(cf(out_rows), cout, geo.n, cout, per_img, out.data<float>());
    transition->norm->track_batch(s.stats.mean.data(), s.stats.var.data(), P);
    for (const Tensor* t : {&s.t_gamma, &s.t_beta, &s.t_weight}) inputs.push_back(*t);
  }
  if (!needs_grad(inputs)) return out;
  return record(kDenseBlockTrainOp, out, inputs,
                [saved](const Tensor& grad) { return block_backward(*saved, grad); });
}

namespace {

// A norm reading channels [0, c) of the block: its weight and bias gradients (the sums), and its
// share of the per-channel part of the input gradient, gathered into corr_a and corr_b (applied
// by finish_channels once every reader of a channel has added its share).
std::pair<Tensor, Tensor> gather_norm_sums(const float* gamma, int64_t c,
                                           const std::vector<double>& sum_g,
                                           const std::vector<double>& sum_gx, int64_t count,
                                           std::vector<double>& corr_a,
                                           std::vector<double>& corr_b) {
  Tensor dgamma = Tensor::empty({c}), dbeta = Tensor::empty({c});
  for (int64_t i = 0; i < c; ++i) {
    dgamma.data<float>()[i] = static_cast<float>(sum_gx[i]);
    dbeta.data<float>()[i] = static_cast<float>(sum_g[i]);
    corr_a[i] += gamma[i] * sum_g[i] / static_cast<double>(count);
    corr_b[i] += gamma[i] * sum_gx[i] / static_cast<double>(count);
  }
  return {dgamma, dbeta};
}

// The fused transition's backward: from the gradient of its output (NCHW), its conv's weight
// gradient and input gradient (on the pooled rows), then per full-size image row the pooling's
// gradient (a quarter of the pooled pixel's to each of its four pixels; rows and columns the
// floor-sized pool drops get none), the ReLU's mask and the norm's backward: the per-element part
// added into the block's gradient `gr`, the sums' part gathered into corr_a / corr_b like a
// norm1's. Returns the gradients of the norm's weight and bias and the conv's weight.
std::vector<Tensor> transition_backward(const Saved& s, const Tensor& go, float* gr,
                                        std::vector<double>& corr_a, std::vector<double>& corr_b) {
  const Geometry& geo = s.geo;
  const int64_t P = geo.pixels(), hw = geo.h * geo.w, ct = s.c_total;
  const int64_t oh = geo.h / 2, ow = geo.w / 2, per_img = oh * ow, q = geo.n * per_img;
  const Tensor wt = s.t_weight.detach().contiguous();
  const Tensor gamma = s.t_gamma.detach().contiguous(), beta = s.t_beta.detach().contiguous();
  const int64_t cout = wt.size(0);
  const float* rows = cf(s.rows);
  Tensor go_rows = Tensor::empty({q, cout});
  nchw_to_rows(cf(go), geo.n, cout, per_img, go_rows.data<float>(), cout);
  Tensor dw = Tensor::empty({cout, ct, 1, 1});
  Tensor gp = Tensor::empty({q, ct});
  if (s.bf16) {
    Tensor go_t = Tensor::empty({cout, q}, DType::BF16),
           go_h = Tensor::empty({q, cout}, DType::BF16);
    transpose_to_bf16(cf(go_rows), q, cout, go_t.data<uint16_t>(), q);
    kernels::f32_to_bf16_array(cf(go_rows), go_h.data<uint16_t>(), go_h.numel());
    const std::vector<uint16_t> wh = bf16_of(wt);
    gemm::bf16gemm(false, false, cout, ct, q, 1.0f, go_t.data<uint16_t>(), q,
                   s.pooled.data<uint16_t>(), ct, 0.0f, dw.data<float>(), ct);
    gemm::bf16gemm(false, false, q, ct, cout, 1.0f, go_h.data<uint16_t>(), cout, wh.data(), ct,
                   0.0f, gp.data<float>(), ct);
  } else {
    gemm::sgemm(true, false, cout, ct, q, 1.0f, cf(go_rows), cout, cf(s.pooled), ct, 0.0f,
                dw.data<float>(), ct);
    gemm::sgemm(false, false, q, ct, cout, 1.0f, cf(go_rows), cout, cf(wt), ct, 0.0f,
                gp.data<float>(), ct);
  }
  std::vector<float> scale, shift, k(static_cast<size_t>(ct));
  affine(s.stats, cf(gamma), cf(beta), ct, scale, shift);
  for (int64_t c = 0; c < ct; ++c) k[c] = cf(gamma)[c] * s.stats.invstd[c];
  std::vector<double> sum_g(static_cast<size_t>(ct)), sum_gx(static_cast<size_t>(ct));
  const float* gpp = cf(gp);
  range_sums(
      geo.n * 2 * oh, std::max<int64_t>(1, kSumRows / geo.w), ct,
      [&](int64_t u0, int64_t count, double* pa, double* pb) {
        float* g = grow_scratch(t_scratch, 2 * geo.w * ct);
        float* y = g + geo.w * ct;
        for (int64_t u = u0; u < u0 + count; ++u) {
          const int64_t img = u / (2 * oh), yy = u % (2 * oh);
          const int64_t r = img * hw + yy * geo.w;  // the image row's first pixel
          const float* src = gpp + (img * per_img + (yy / 2) * ow) * ct;
          for (int64_t x = 0; x < geo.w; ++x) {
            float* d = g + x * ct;
            if (x < 2 * ow) {
              const float* p = src + (x / 2) * ct;
              for (int64_t c = 0; c < ct; ++c) d[c] = 0.25f * p[c];
            } else {
              std::fill(d, d + ct, 0.0f);
            }
          }
          kernels::bn_relu_rows(rows + r * ct, ct, geo.w, ct, scale.data(), shift.data(), y, ct);
          kernels::rows_bn_relu_backward_part(g, ct, y, ct, rows + r * ct, ct, geo.w, ct,
                                              s.stats.mean.data(), s.stats.invstd.data(), k.data(),
                                              gr + r * ct, ct, pa, pb);
        }
      },
      sum_g.data(), sum_gx.data());
  auto [dgamma, dbeta] = gather_norm_sums(cf(gamma), ct, sum_g, sum_gx, P, corr_a, corr_b);
  return {dgamma, dbeta, dw};
}

std::vector<Tensor> block_backward(const Saved& s, const Tensor& grad_out) {
  const Geometry& geo = s.geo;
  const int64_t P = geo.pixels(), hw = geo.h * geo.w, ct = s.c_total, inner = s.inner,
                growth = s.growth, L = static_cast<int64_t>(s.params.size());
  const float* rows = cf(s.rows);
  const Stats& st = s.stats;
  const Tensor go = grad_out.contiguous();
  Tensor grad_rows = s.transition ? Tensor::zeros({P, ct}) : Tensor::empty({P, ct});
  float* gr = grad_rows.data<float>();
  if (!s.transition) nchw_to_rows(cf(go), geo.n, ct, hw, gr, ct);

  // Per channel, the parts of every norm1 input gradient that depend on the batch sums:
  // sum over the layers reading the channel of w * mean(gm) and of w * mean(gm * xhat).
  std::vector<double> corr_a(static_cast<size_t>(ct), 0.0), corr_b(static_cast<size_t>(ct), 0.0);
  auto finish_channels = [&](int64_t c0, int64_t c1) {
    std::vector<float> a(static_cast<size_t>(ct)), b(static_cast<size_t>(ct));
    for (int64_t c = c0; c < c1; ++c) {
      a[c] = static_cast<float>(st.invstd[c] * corr_a[c]);
      b[c] = static_cast<float>(st.invstd[c] * corr_b[c]);
    }
    over_rows(P, c1 - c0, [&](int64_t r0, int64_t m) {
      kernels::rows_sub_affine_of_xhat(rows + r0 * ct + c0, ct, m, c1 - c0, st.mean.data() + c0,
                                       st.invstd.data() + c0, a.data() + c0, b.data() + c0,
                                       gr + r0 * ct + c0, ct);
    });
  };

  std::vector<Tensor> t_grads;
  if (s.transition) t_grads = transition_backward(s, go, gr, corr_a, corr_b);

  Tensor a2 = Tensor::empty({geo.padded_pixels(), inner});
  Tensor gy = Tensor::empty({geo.padded_pixels(), growth});
  Tensor g2 = Tensor::empty({P, inner});
  Tensor y1_again = s.recompute_conv1 ? Tensor::empty({P, inner}) : Tensor();
  // conv2's input grid transposed (f32 or bf16), and the bf16 copies of conv2's output gradient
  // grid and of conv1's output gradient (rows and transposed). Tensors: from the caching
  // allocator, not zero-filled; every element is written before it is read.
  Tensor a2t_f = s.bf16 ? Tensor() : Tensor::empty({inner, geo.padded_pixels()});
  Tensor a2t_t, gyh_t, g2h_t, g2t_t;
  uint16_t *a2t = nullptr, *gyh = nullptr, *g2h = nullptr, *g2t = nullptr;
  if (s.bf16) {
    a2t_t = Tensor::empty({inner, geo.padded_pixels()}, DType::BF16);
    gyh_t = Tensor::empty({geo.padded_pixels(), growth}, DType::BF16);
    g2h_t = Tensor::empty({P, inner}, DType::BF16);
    g2t_t = Tensor::empty({inner, P}, DType::BF16);
    a2t = a2t_t.data<uint16_t>(), gyh = gyh_t.data<uint16_t>();
    g2h = g2h_t.data<uint16_t>(), g2t = g2t_t.data<uint16_t>();
  }
  std::vector<float> scale, shift;
  std::vector<double> sum_g(static_cast<size_t>(std::max(ct, inner))),
      sum_gx(static_cast<size_t>(std::max(ct, inner)));
  std::vector<Tensor> grads(1 + 6 * static_cast<size_t>(L));
  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerParams& p = s.params[static_cast<size_t>(l)];
    const Stats& st2 = s.stats2[static_cast<size_t>(l)];
    const int64_t c = s.c_in + l * growth;
    finish_channels(c, c + growth);  // no later layer reads them: their gradient is complete
    const Tensor w1 = p.w1.detach().contiguous(), w2 = p.w2.detach().contiguous();
    const Tensor n1w = p.g1.detach().contiguous(), n1b = p.b1.detach().contiguous();
    const Tensor n2w = p.g2.detach().contiguous(), n2b = p.b2.detach().contiguous();
    // norm1 as an affine map; with checkpointing conv1's output recomputed, by the forward's
    // own function (the same bits).
    std::vector<float> scale1, shift1;
    affine(st, cf(n1w), cf(n1b), c, scale1, shift1);
    if (s.recompute_conv1)
      conv1_forward(s.bf16, w1, rows, ct, P, c, scale1.data(), shift1.data(),
                    y1_again.data<float>());
    const float* y1 = cf(s.recompute_conv1 ? y1_again : s.conv1[static_cast<size_t>(l)]);

    // conv2: its input recomputed on the zero-bordered grid, with the output gradient beside it.
    affine(st2, cf(n2w), cf(n2b), inner, scale, shift);
    bn_relu_to_padded(geo, y1, inner, inner, scale.data(), shift.data(), a2.data<float>());
    rows_to_padded(geo, gr, ct, c, growth, gy.data<float>());
    Tensor dw2 = Tensor::empty({growth, inner, 3, 3});
    // a transposed once per layer ([inner, grid positions]: a tap's shift is a column offset).
    const int64_t pp = geo.padded_pixels();
    if (s.bf16) {
      transpose_to_bf16(cf(a2), pp, inner, a2t, pp);
      kernels::f32_to_bf16_array(cf(gy), gyh, gy.numel());
      conv3x3_weight_grad(geo, growth, inner, dw2.data<float>(),
                          [&](int64_t q, int64_t qa, int64_t m, float* dst) {
                            gemm::bf16gemm(false, false, inner, growth, m, 1.0f, a2t + qa, pp,
                                           gyh + q * growth, growth, 1.0f, dst, growth);
                          });
    } else {
      float* a2tf = a2t_f.data<float>();
      transpose_rows(cf(a2), pp, inner, a2tf, pp);
      const float* gyp = cf(gy);
      conv3x3_weight_grad(geo, growth, inner, dw2.data<float>(),
                          [&](int64_t q, int64_t qa, int64_t m, float* dst) {
                            gemm::sgemm(false, false, inner, growth, m, 1.0f, a2tf + qa, pp,
                                        gyp + q * growth, growth, 1.0f, dst, growth);
                          });
    }
    // Input gradient: the flipped, transposed kernel over gy.
    const std::vector<float> ut =
        flipped_transposed_f2x3(s.u2[static_cast<size_t>(l)], growth, inner);
    std::vector<uint16_t> uth;
    if (s.bf16 && kernels::winograd_f2x3_bf16_available(inner))
      uth = kernels::winograd_f2x3_weights_bf16(ut, growth, inner);
    winograd_3x3(geo, cf(gy), growth, ut.data(), inner, g2.data<float>(), inner,
                 uth.empty() ? nullptr : uth.data());

    // norm2 + relu2 backward, in place over g2; the mask is a2's interior, read per image row.
    {
      float* g2p = g2.data<float>();
      const float* a2p = cf(a2);
      const float* mu2 = st2.mean.data();
      const float* is2 = st2.invstd.data();
      const int64_t image_rows = geo.n * geo.h;
      auto mask_row = [&](int64_t r) {
        return a2p + geo.padded_row(r / geo.h, r % geo.h, 0) * inner;
      };
      range_sums(
          image_rows, std::max<int64_t>(1, kSumRows / geo.w), inner,
          [&](int64_t r0, int64_t count, double* pa, double* pb) {
            for (int64_t r = r0; r < r0 + count; ++r)
              kernels::rows_bn_relu_backward_part(g2p + r * geo.w * inner, inner, mask_row(r),
                                                  inner, y1 + r * geo.w * inner, inner, geo.w,
                                                  inner, mu2, is2, nullptr, nullptr, 0, pa, pb);
          },
          sum_g.data(), sum_gx.data());
      Tensor dg2 = Tensor::empty({inner}), db2 = Tensor::empty({inner});
      std::vector<float> k2(static_cast<size_t>(inner)), a(k2.size()), b(k2.size());
      for (int64_t ci = 0; ci < inner; ++ci) {
        dg2.data<float>()[ci] = static_cast<float>(sum_gx[ci]);
        db2.data<float>()[ci] = static_cast<float>(sum_g[ci]);
        k2[ci] = cf(n2w)[ci] * is2[ci];
        a[ci] = static_cast<float>(sum_g[ci] / static_cast<double>(P));
        b[ci] = static_cast<float>(sum_gx[ci] / static_cast<double>(P));
      }
      parallel_for(0, image_rows, 4, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r)
          kernels::rows_bn_relu_grad(g2p + r * geo.w * inner, inner, mask_row(r), inner,
                                     y1 + r * geo.w * inner, inner, geo.w, inner, mu2, is2,
                                     k2.data(), a.data(), b.data());
      });
      grads[1 + 6 * l + 3] = dg2;
      grads[1 + 6 * l + 4] = db2;
    }
    grads[1 + 6 * l + 5] = dw2;

    // conv1 and norm1 + relu1 backward per range of kSumRows rows, the ranges in kTapGroups fixed
    // groups (one thread each at a time): conv1's input relu(norm1(rows)) recomputed into L2,
    // the weight gradient's share g2^T a1 added into the group's partial, the input gradient
    // g2 W1 (W1 packed once, g2's rows read in place) and on it norm1's backward: the sums, and
    // the per-element part added into the block's gradient (the rest is gathered per channel:
    // finish_channels). The groups' partials and the ranges' sums are added in order.
    std::vector<float> k(static_cast<size_t>(c));
    for (int64_t ci = 0; ci < c; ++ci) k[ci] = cf(n1w)[ci] * st.invstd[ci];
    std::optional<gemm::PackedB> w1n;
    std::vector<uint16_t> w1h;
    if (s.bf16) {
      w1h = bf16_of(w1);
      kernels::f32_to_bf16_array(cf(g2), g2h, g2.numel());
      transpose_to_bf16(cf(g2), P, inner, g2t, P);  // the weight gradient's A, [inner, P]
    } else {
      w1n.emplace(/*trans_b=*/false, inner, c, cf(w1), c);
    }
    const int64_t ranges = (P + kSumRows - 1) / kSumRows, groups = std::min(kTapGroups, ranges);
    Tensor dw1_part = Tensor::zeros({groups, inner, c});
    Tensor range_sum = Tensor::empty({ranges, 2, c}, DType::F64);
    float* dwp = dw1_part.data<float>();
    double* rsp = range_sum.data<double>();
    parallel_for(0, groups, 1, [&](int64_t gb, int64_t ge) {
      for (int64_t grp = gb; grp < ge; ++grp)
        for (int64_t i = grp * ranges / groups; i < (grp + 1) * ranges / groups; ++i) {
          const int64_t r0 = i * kSumRows, m = std::min(kSumRows, P - r0);
          float* a = grow_scratch(t_scratch, 2 * m * c);
          float* g1 = a + m * c;
          if (s.bf16) {
            uint16_t* ah = grow_scratch(t_half, m * c);
            kernels::bn_relu_rows_bf16(rows + r0 * ct, ct, m, c, scale1.data(), shift1.data(), a, c,
                                       ah, c);
            const uint16_t* g2r = g2h + r0 * inner;
            gemm::bf16gemm(false, false, inner, c, m, 1.0f, g2t + r0, P, ah, c, 1.0f,
                           dwp + grp * inner * c, c);
            gemm::bf16gemm(false, false, m, c, inner, 1.0f, g2r, inner, w1h.data(), c, 0.0f, g1, c);
          } else {
            kernels::bn_relu_rows(rows + r0 * ct, ct, m, c, scale1.data(), shift1.data(), a, c);
            gemm::sgemm(true, false, inner, c, m, 1.0f, cf(g2) + r0 * inner, inner, a, c, 1.0f,
                        dwp + grp * inner * c, c);
            gemm::sgemm_packed_b(false, m, 1.0f, cf(g2) + r0 * inner, inner, *w1n, 0.0f, g1, c);
          }
          double* sums = rsp + i * 2 * c;
          std::fill(sums, sums + 2 * c, 0.0);
          kernels::rows_bn_relu_backward_part(g1, c, a, c, rows + r0 * ct, ct, m, c, st.mean.data(),
                                              st.invstd.data(), k.data(), gr + r0 * ct, ct, sums,
                                              sums + c);
        }
    });
    Tensor dw1 = Tensor::empty({inner, c, 1, 1});
    sum_partials(dwp, groups, inner * c, dw1.data<float>());
    grads[1 + 6 * l + 2] = dw1;
    add_range_sums(rsp, ranges, c, sum_g.data(), sum_gx.data());
    auto [dg1, db1] = gather_norm_sums(cf(n1w), c, sum_g, sum_gx, P, corr_a, corr_b);
    grads[1 + 6 * l + 0] = dg1;
    grads[1 + 6 * l + 1] = db1;
  }
  finish_channels(0, s.c_in);
  Tensor gx = Tensor::empty({geo.n, s.c_in, geo.h, geo.w});
  rows_to_nchw(gr, ct, geo.n, s.c_in, hw, gx.data<float>());
  grads[0] = gx;
  for (Tensor& t : t_grads) grads.push_back(t);
  return grads;
}

}  // namespace
}  // namespace kiln::nn
