// matmul (batched, broadcasting) and linear, both on GEMM. A 2-D operand whose rows or columns are
// unit-stride goes to GEMM as is (transposed if needed), so x @ w.T never copies w.
// Under bf16 autocast (core/autocast.h) f32 operands are rounded to bf16 and multiplied by
// gemm::bf16gemm with f32 accumulation, in the forward and in both backward GEMMs; each op records
// the mode it ran in so its backward matches. linear then saves its input in bf16 (what the
// weight-gradient GEMM reads), half the bytes of the f32 input, and rounds its weight while
// packing it (gemm::bf16gemm_f32b), so no bf16 copy of a weight is made or kept.
#include <algorithm>
#include <cstring>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/gemm.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kMatmulOp, "matmul", true);
KILN_OP(kLinearOp, "linear", true);

namespace {

struct MatArg {
  const void* data;
  bool trans;
  int64_t ld;
};

// Describes a 2-D view [rows, cols] for GEMM; `holder` keeps a contiguous copy alive if needed.
MatArg mat_arg(const Tensor& t, Tensor& holder) {
  const int64_t rows = t.shape()[0], cols = t.shape()[1];
  int64_t rs = t.strides()[0], cs = t.strides()[1];
  if (rows == 1) rs = std::max<int64_t>(cols, 1) * cs;  // any stride works for a single row
  if (cols == 1) cs = 1;
  if (cs == 1 && rs >= std::max<int64_t>(cols, 1)) return {t.raw_data(), false, rs};
  if (rs == 1 && cs >= std::max<int64_t>(rows, 1)) return {t.raw_data(), true, cs};
  NoGradGuard ng;
  holder = clone(t);
  return {holder.raw_data(), false, std::max<int64_t>(cols, 1)};
}

// c[M,N] = a[M,K] @ b[K,N] + beta * c, c contiguous; f32 operands through bf16 when `bf16`.
void gemm2d(const Tensor& a, const Tensor& b, const Tensor& c, double beta, bool bf16 = false) {
  if (bf16 && a.dtype() == DType::F32) {
    const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
    const Tensor ab = to_bf16_matrix(a), bb = to_bf16_matrix(b);
    gemm::bf16gemm(false, false, m, n, k, 1.0f, ab.data<uint16_t>(), std::max<int64_t>(k, 1),
                   bb.data<uint16_t>(), std::max<int64_t>(n, 1), static_cast<float>(beta),
                   static_cast<float*>(c.raw_data()), std::max<int64_t>(n, 1));
    return;
  }
  Tensor ha, hb;
  const MatArg A = mat_arg(a, ha), B = mat_arg(b, hb);
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  if (k == 0 && beta == 0) {
    fill_(c, 0.0);
    return;
  }
  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      gemm::sgemm(A.trans, B.trans, m, n, k, 1.0f, static_cast<const float*>(A.data), A.ld,
                  static_cast<const float*>(B.data), B.ld, static_cast<float>(beta),
                  static_cast<float*>(c.raw_data()), std::max<int64_t>(n, 1));
    } else {
      gemm::dgemm(A.trans, B.trans, m, n, k, 1.0, static_cast<const double*>(A.data), A.ld,
                  static_cast<const double*>(B.data), B.ld, beta,
                  static_cast<double*>(c.raw_data()), std::max<int64_t>(n, 1));
    }
  });
}

// Batched product of a[..., M, K] and b[..., K, N] (both at least 2-D), no autograd.
Tensor matmul_kernel(const Tensor& a, const Tensor& b, bool bf16) {
  KILN_CHECK(a.dtype() == b.dtype(), "matmul: dtype mismatch, ", a.describe(), " vs ",
             b.describe());
  const int64_t m = a.size(-2), k = a.size(-1), k2 = b.size(-2), n = b.size(-1);
  KILN_CHECK(k == k2, "matmul: inner dimensions differ: ", a.describe(), " @ ", b.describe());
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  NoGradGuard ng;
  // Common case: b is a single matrix and a's leading dims flatten into rows.
  if (batch_b.empty() && !batch_a.empty() && a.is_contiguous()) {
    gemm2d(reshape(a, {-1, k}), b, reshape(out, {-1, n}), 0.0, bf16);
    return out;
  }
  Shape full_a = batch, full_b = batch;
  full_a.insert(full_a.end(), {m, k});
  full_b.insert(full_b.end(), {k, n});
  Tensor ea = expand(a, full_a), eb = expand(b, full_b);
  const int64_t nb = shape_numel(batch);
  for (int64_t i = 0; i < nb; ++i) {
    // Select batch i by unravelling its index over the batch dims.
    Tensor ai = ea, bi = eb, oi = out;
    int64_t rem = i;
    std::vector<int64_t> idx(batch.size());
    for (size_t d = batch.size(); d-- > 0;) {
      idx[d] = rem % batch[d];
      rem /= batch[d];
    }
    for (size_t d = 0; d < batch.size(); ++d) {
      ai = select(ai, 0, idx[d]);
      bi = select(bi, 0, idx[d]);
      oi = select(oi, 0, idx[d]);
    }
    gemm2d(ai, bi, oi, 0.0, bf16);
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands must be at least 1-D, got ",
             a.describe(), " and ", b.describe());
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const bool bf16 = bf16_autocast_enabled() && a.dtype() == DType::F32;
  Tensor out = matmul_kernel(a, b, bf16);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor ad = gb ? a.detach() : Tensor(), bd = ga ? b.detach() : Tensor();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kMatmulOp, out, {a, b}, {&ad, &bd}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor da, db;
    if (ga) da = sum_to(matmul_kernel(g, transpose(bd, -1, -2), bf16), sa);
    if (gb) db = sum_to(matmul_kernel(transpose(ad, -1, -2), g, bf16), sb);
    return {da, db};
  });
}

namespace {

// Fills out2 [rows, outf] with the bias broadcast over rows (the GEMM then accumulates onto it
// with beta = 1); returns the beta to use (0 without bias).
double prefill_bias(const Tensor& o2, const Tensor& bias, const Tensor& x, int64_t outf) {
  if (!bias.defined()) return 0.0;
  KILN_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias ", bias.describe(),
             " does not match ", outf, " outputs");
  if (bias.dtype() == x.dtype() && bias.is_contiguous() && outf > 0) {
    // Row-by-row memcpy: the generic broadcast copy_ walks element by element in a baseline
    // (SSE2) loop and showed up at ~2% of a BERT training step.
    const size_t row_bytes = static_cast<size_t>(outf) * dtype_size(x.dtype());
    const char* src = static_cast<const char*>(bias.raw_data());
    char* dst = static_cast<char*>(o2.raw_data());
    parallel_for(0, o2.size(0), std::max<int64_t>(1, 65536 / outf), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) std::memcpy(dst + r * row_bytes, src, row_bytes);
    });
  } else {
    copy_(o2, bias);
  }
  return 1.0;
}

}  // namespace

Tensor linear_prepacked(const Tensor& x, const gemm::PackedB& w_t, const Tensor& bias,
                        LinearActivation activation, const Tensor& residual) {
  KILN_CHECK(!grad_enabled() || (!x.requires_grad() && !residual.requires_grad()),
             "linear: a weight packed for inference cannot take part in autograd (input ",
             x.describe(), " requires grad)");
  KILN_CHECK(x.dtype() == DType::F32, "linear: packed weights are f32, input is ", x.describe());
  const int64_t in = w_t.k(), outf = w_t.n();
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear: input ", x.describe(),
             " does not match packed weight [", outf, ", ", in, "]");
  Shape out_shape = x.shape();
  out_shape.back() = outf;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  NoGradGuard ng;
  const Tensor x2 = reshape(contiguous(x), {-1, in});
  const Tensor o2 = reshape(out, {-1, outf});
  gemm::Epilogue ep;
  Tensor bias_c, res2;
  if (bias.defined()) {
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias ", bias.describe(),
               " does not match ", outf, " outputs");
    bias_c = contiguous(bias.to(DType::F32));
    ep.bias = bias_c.data<float>();
  }
  if (activation == LinearActivation::kGelu) ep.activation = kernels::gelu_f32;
  if (residual.defined()) {
    KILN_CHECK(residual.shape() == out_shape && residual.dtype() == DType::F32, "linear: residual ",
               residual.describe(), " does not match the output ", out.describe());
    res2 = reshape(contiguous(residual), {-1, outf});
    ep.residual = res2.data<float>();
    ep.ldr = outf;
  }
  gemm::sgemm_packed_b(false, x2.size(0), 1.0f, x2.data<float>(), std::max<int64_t>(in, 1), w_t,
                       0.0f, o2.data<float>(), std::max<int64_t>(outf, 1), ep);
  return out;
}

namespace {

// linear under bf16 autocast: x and w rounded to bf16 (x through bf16_input, shared with other
// linears on the same input; w as the GEMM packs it), products accumulated in f32 onto the f32
// bias. Saves the bf16 input and an alias of the f32 weight (as the f32 path does) for the backward
// GEMMs dx = g w and dw = g^T x, which round g to bf16 once for both.
Tensor linear_bf16(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t in = w.size(1), outf = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = outf;
  Tensor out = Tensor::empty(out_shape, DType::F32);
  const bool gx = x.requires_grad(), gw = w.requires_grad();
  const bool recording = needs_grad({&x, &w, &bias});
  Tensor xb;
  int64_t rows = 0;
  {
    NoGradGuard ng;
    const Tensor x2 = reshape(contiguous(x), {-1, in});
    rows = x2.size(0);
    const Tensor o2 = reshape(out, {-1, outf});
    xb = bf16_input(x2);
    Tensor hw;
    const MatArg W = mat_arg(w, hw);  // op(B)[p][j] = w[j][p]
    const double beta = prefill_bias(o2, bias, x, outf);
    gemm::bf16gemm_f32b(false, !W.trans, rows, outf, in, 1.0f, xb.data<uint16_t>(),
                        std::max<int64_t>(in, 1), static_cast<const float*>(W.data), W.ld,
                        static_cast<float>(beta), o2.data<float>(), std::max<int64_t>(outf, 1));
  }
  if (!recording) return out;
  if (!gw) xb = Tensor();
  Tensor wd = gx ? w.detach() : Tensor();
  const Shape sx = x.shape();
  std::vector<Tensor> inputs = {x, w};
  if (bias.defined()) inputs.push_back(bias);
  const bool has_bias = bias.defined();
  return record(kLinearOp, out, inputs, {&xb, &wd}, [=](const Tensor& g) -> std::vector<Tensor> {
    const Tensor g2 = reshape(contiguous(g), {-1, outf});
    const Tensor gb = to_bf16_matrix(g2);
    std::vector<Tensor> grads(has_bias ? 3 : 2);
    if (gx) {
      Tensor dx = Tensor::empty({rows, in}, DType::F32);
      Tensor hw;
      const MatArg W = mat_arg(wd, hw);  // op(B)[p][j] = w[p][j]
      gemm::bf16gemm_f32b(false, W.trans, rows, in, outf, 1.0f, gb.data<uint16_t>(),
                          std::max<int64_t>(outf, 1), static_cast<const float*>(W.data), W.ld, 0.0f,
                          dx.data<float>(), std::max<int64_t>(in, 1));
      grads[0] = reshape(dx, sx);
    }
    if (gw) {
      Tensor dw = Tensor::empty({outf, in}, DType::F32);
      gemm::bf16gemm(true, false, outf, in, rows, 1.0f, gb.data<uint16_t>(),
                     std::max<int64_t>(outf, 1), xb.data<uint16_t>(), std::max<int64_t>(in, 1),
                     0.0f, dw.data<float>(), std::max<int64_t>(in, 1));
      grads[1] = dw;
    }
    if (has_bias) grads[2] = sum(g2, {0});
    return grads;
  });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  KILN_CHECK(w.dim() == 2, "linear: weight must be 2-D [out, in], got ", w.describe());
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input ", x.describe(),
             " does not match weight ", w.describe());
  KILN_CHECK(x.dtype() == w.dtype(), "linear: dtype mismatch, ", x.describe(), " vs ",
             w.describe());
  if (bf16_autocast_enabled() && x.dtype() == DType::F32) return linear_bf16(x, w, bias);
  const int64_t in = w.size(1), outf = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = outf;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  Tensor x2;
  {
    NoGradGuard ng;
    x2 = reshape(contiguous(x), {-1, in});
    Tensor o2 = reshape(out, {-1, outf});
    gemm2d(x2, transpose(w, 0, 1), o2, prefill_bias(o2, bias, x, outf));
  }
  const bool gx = x.requires_grad(), gw = w.requires_grad();
  Tensor xd = gw ? x2.detach() : Tensor(), wd = gx ? w.detach() : Tensor();
  const Shape sx = x.shape();
  std::vector<Tensor> inputs = {x, w};
  if (bias.defined()) inputs.push_back(bias);
  const bool has_bias = bias.defined();
  return record(kLinearOp, out, inputs, {&xd, &wd}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor g2 = reshape(contiguous(g), {-1, outf});
    std::vector<Tensor> grads(has_bias ? 3 : 2);
    if (gx) grads[0] = reshape(matmul_kernel(g2, wd, false), sx);
    if (gw) grads[1] = matmul_kernel(transpose(g2, 0, 1), xd, false);
    if (has_bias) grads[2] = sum(g2, {0});
    return grads;
  });
}

}  // namespace kiln
