// scaled_dot_product_attention: softmax(q k^T * scale + masks) v as one fused op.
// Why fused: composing it from matmul/masked_fill/softmax would record five nodes and keep five
// [B, H, Lq, Lk] intermediates alive for backward; here the forward keeps only the probabilities P
// (the backward recomputes nothing), and the per-(batch, head) work is two GEMMs and a row softmax
// written in place into P. q/k/v views with unit-stride rows (heads permuted out of a [B, L, H, D]
// projection, or k/v expanded over heads) go to GEMM in place, without a contiguous copy; the f32
// row softmax is core/kernels/softmax_row.h (vectorised max, exp and f64 sum). Under no-grad P
// is a per-task head-sized buffer rather than a tensor. Each (b, h) pair is computed start to
// finish by one task of parallel_for, so the bits of the output and of every gradient do not depend
// on the thread count (GEMM called inside a worker runs inline; see core/gemm.h for its own
// determinism). Masks: key_padding_mask [B, Lk] (non-zero = attend) and causal (query i sees keys
// j <= i + Lk - Lq, the KV-cache convention) are applied as -inf before the softmax. A row with no
// visible key gets P = 0, hence a zero output row and zero gradients, never NaN.
// Backward: dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dP * P)); dQ = dS K * scale;
// dK = dS^T Q * scale.
// Dropout on P (options.dropout_p): O = D V with D = P * keep / (1 - p), keep from Philox as in
// dropout() (core/ops/dropout_keep.h, counters in [B, H, Lq, Lk] row-major order). Backward
// regenerates keep rather than storing D or a mask: dV = D^T dO; dP = (dO V^T) * keep / (1 - p);
// dS as above with the undropped P.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/gemm.h"
#include "core/kernels/attention_rows.h"
#include "core/kernels/softmax_row.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/ops/dropout_keep.h"
#include "core/rng.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kAttentionOp, "scaled_dot_product_attention", true);

namespace {

// Row-major C[m,n] = alpha * op(A) op(B) + beta * C on contiguous matrices; handles empty sizes.
template <typename T>
void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
            const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  if constexpr (std::is_same_v<T, float>)
    gemm::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    gemm::dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Row sums of f32 probabilities accumulate in f64.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

struct AttnDims {
  int64_t B, H, Lq, Lk, D, Dv;
};

// Dropout on the probabilities: off when p == 0. Head bh uses counters from
// start + bh * Lq * Lk.
struct ProbDropout {
  double p = 0.0;  // the keep test compares in float, the 1 / (1 - p) scale is taken in double
  uint64_t seed = 0, start = 0;
  bool on() const { return p > 0.0; }
  // The keep mask of head bh's Lq x Lk probabilities (generated once per head and pass; the
  // backward applies it twice).
  void mask(int64_t bh, const AttnDims& s, std::vector<uint8_t>& keep) const {
    const int64_t n = s.Lq * s.Lk;
    keep.resize(static_cast<size_t>(n));
    for_each_dropout_keep(seed, start + static_cast<uint64_t>(bh * n), n, static_cast<float>(p),
                          [&](int64_t i, bool k) { keep[i] = k; });
  }
  // dst[i] = keep[i] ? src[i] / (1 - p) : 0 over one head (dst may be src).
  template <typename T>
  void apply(const std::vector<uint8_t>& keep, const T* src, T* dst) const {
    const T scale = p >= 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
    for (size_t i = 0; i < keep.size(); ++i) dst[i] = keep[i] ? src[i] * scale : T(0);
  }
};

// Per-batch visibility of each key [B, Lk]: 1 = attend; empty when every key is visible.
std::vector<uint8_t> key_visibility(const AttentionOptions& o, const AttnDims& s) {
  const Tensor& m = o.key_padding_mask;
  if (!m.defined()) return {};
  std::vector<uint8_t> vis(static_cast<size_t>(s.B * s.Lk), 1);
  KILN_CHECK(m.dim() == 2 && m.size(0) == s.B && m.size(1) == s.Lk,
             "scaled_dot_product_attention: key_padding_mask ", m.describe(),
             " must be [B, Lk] = [", s.B, ", ", s.Lk, "]");
  Tensor mc;
  {
    NoGradGuard ng;
    mc = m.contiguous();
  }
  dispatch_index(m.dtype(), "scaled_dot_product_attention (key_padding_mask)", [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* p = static_cast<const I*>(mc.raw_data());
    for (size_t i = 0; i < vis.size(); ++i) vis[i] = p[i] != 0;
  });
  // All keys visible: same as no mask, and the row loops skip the mask pass.
  if (std::all_of(vis.begin(), vis.end(), [](uint8_t x) { return x != 0; })) vis.clear();
  return vis;
}

// In-place softmax of row[0, n) (entries may be -inf); a row with nothing visible becomes zeros.
// f32 goes to the vectorised kernel (core/kernels/softmax_row.h); f64 keeps plain loops.
template <typename T>
void softmax_visible(T* row, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::softmax_row_f32(row, n);
  } else {
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    T mx = kNegInf;
    for (int64_t j = 0; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
    if (mx == kNegInf) {
      std::fill(row, row + n, T(0));
      return;
    }
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  }
}

// One (b, h) forward: S = scale * Q K^T into P, masked row softmax in place, O = P V.
// `vis` is null when no key is padded. The mask, exp and scaling loops vectorise.
template <typename T>
void attn_forward_head(const T* q, int64_t ldq, const T* k, int64_t ldk, const T* v, int64_t ldv,
                       const uint8_t* vis, bool causal, T scale, const AttnDims& s, T* p, T* o,
                       const ProbDropout& drop, int64_t bh, std::vector<T>& scratch,
                       std::vector<uint8_t>& keep) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  // A decoder step's one query row: keys and values read in place (core/kernels/attention_rows.h)
  // instead of packed for a GEMM.
  const bool few_rows = std::is_same_v<T, float> && s.Lq <= kernels::kAttentionRowsMax;
  if constexpr (std::is_same_v<T, float>) {
    if (few_rows) kernels::attention_scores_rows(q, ldq, k, ldk, s.Lq, s.Lk, s.D, scale, p);
  }
  if (!few_rows) gemm_t<T>(false, true, s.Lq, s.Lk, s.D, scale, q, ldq, k, ldk, T(0), p, s.Lk);
  const int64_t shift = s.Lk - s.Lq;
  for (int64_t i = 0; i < s.Lq; ++i) {
    T* row = p + i * s.Lk;
    // Keys j < jend are causally visible; vis[j] applies the padding mask.
    const int64_t jend = causal ? std::clamp<int64_t>(i + shift + 1, 0, s.Lk) : s.Lk;
    if (vis)
      for (int64_t j = 0; j < jend; ++j) row[j] = vis[j] ? row[j] : kNegInf;
    softmax_visible<T>(row, jend);
    std::fill(row + jend, row + s.Lk, T(0));
  }
  const T* pv = p;
  if (drop.on()) {
    scratch.resize(static_cast<size_t>(s.Lq * s.Lk));
    drop.mask(bh, s, keep);
    drop.apply(keep, p, scratch.data());
    pv = scratch.data();
  }
  if constexpr (std::is_same_v<T, float>) {
    if (few_rows) {
      kernels::attention_weighted_rows(pv, s.Lq, s.Lk, v, ldv, s.Dv, o);
      return;
    }
  }
  gemm_t<T>(false, false, s.Lq, s.Dv, s.Lk, T(1), pv, s.Lk, v, ldv, T(0), o, s.Dv);
}

// One (b, h) backward. dq/dk/dv may be null when that input needs no gradient.
template <typename T>
void attn_backward_head(const T* q, int64_t ldq, const T* k, int64_t ldk, const T* v, int64_t ldv,
                        const T* p, const T* dout, T scale, const AttnDims& s, T* dq, T* dk, T* dv,
                        std::vector<T>& ds, const ProbDropout& drop, int64_t bh,
                        std::vector<T>& dropped, std::vector<uint8_t>& keep) {
  const T* pv = p;  // the probabilities that multiplied V
  if (drop.on()) {
    dropped.resize(static_cast<size_t>(s.Lq * s.Lk));
    drop.mask(bh, s, keep);
    drop.apply(keep, p, dropped.data());
    pv = dropped.data();
  }
  if (dv) gemm_t<T>(true, false, s.Lk, s.Dv, s.Lq, T(1), pv, s.Lk, dout, s.Dv, T(0), dv, s.Dv);
  if (!dq && !dk) return;
  ds.resize(static_cast<size_t>(s.Lq * s.Lk));
  T* d = ds.data();
  gemm_t<T>(false, true, s.Lq, s.Lk, s.Dv, T(1), dout, s.Dv, v, ldv, T(0), d, s.Lk);  // dD
  if (drop.on()) drop.apply(keep, d, d);  // dP = dD * keep / (1 - p)
  for (int64_t i = 0; i < s.Lq; ++i) {
    T* dr = d + i * s.Lk;
    const T* pr = p + i * s.Lk;
    Acc<T> acc = 0;
    for (int64_t j = 0; j < s.Lk; ++j) acc += dr[j] * pr[j];
    const T dot = static_cast<T>(acc);
    for (int64_t j = 0; j < s.Lk; ++j) dr[j] = pr[j] * (dr[j] - dot);
  }
  if (dq) gemm_t<T>(false, false, s.Lq, s.D, s.Lk, scale, d, s.Lk, k, ldk, T(0), dq, s.D);
  if (dk) gemm_t<T>(true, false, s.Lk, s.D, s.Lq, scale, d, s.Lk, q, ldq, T(0), dk, s.D);
}

// q, k or v as B*H row-major matrices [L, D] for GEMM: matrix (b, h) starts at b*sb + h*sh with
// row stride ld. Any view whose last dimension is unit-stride (e.g. heads permuted out of a
// [B, L, H, D] projection) is used in place; anything else is copied to contiguous first.
struct HeadMat {
  Tensor t;  // detached; keeps the data alive for backward
  int64_t sb, sh, ld;
  int64_t at(int64_t bh, int64_t H) const { return (bh / H) * sb + (bh % H) * sh; }
};

HeadMat head_mat(const Tensor& x) {
  const int64_t L = x.size(2), D = x.size(3);
  const Shape& st = x.strides();
  const bool usable = (st[3] == 1 || D <= 1) && (L <= 1 || st[2] >= std::max<int64_t>(D, 1));
  HeadMat h;
  {
    NoGradGuard ng;
    h.t = usable ? x.detach() : x.contiguous().detach();
  }
  const Shape& ts = h.t.strides();
  h.sb = ts[0];
  h.sh = ts[1];
  h.ld = L <= 1 ? std::max<int64_t>(D, 1) : ts[2];
  return h;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  const char* op = "scaled_dot_product_attention";
  KILN_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op,
             ": expected 4-D q[B, H, Lq, D], k[B, H, Lk, D], v[B, H, Lk, Dv], got ", q.describe(),
             ", ", k.describe(), ", ", v.describe());
  KILN_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), op, ": dtype mismatch, ",
             q.describe(), ", ", k.describe(), ", ", v.describe());
  const AttnDims s{q.size(0), q.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
  KILN_CHECK(k.size(0) == s.B && v.size(0) == s.B && k.size(1) == s.H && v.size(1) == s.H &&
                 k.size(3) == s.D && v.size(2) == s.Lk,
             op,
             ": shapes do not fit q[B, H, Lq, D], k[B, H, Lk, D], v[B, H, Lk, Dv]: ", q.describe(),
             ", ", k.describe(), ", ", v.describe());
  const double scale_d = options.scale != 0.0
                             ? options.scale
                             : 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(s.D, 1)));
  const auto vis = key_visibility(options, s);
  const bool causal = options.causal;
  KILN_CHECK(options.dropout_p >= 0.0 && options.dropout_p <= 1.0, op,
             ": dropout_p must be in [0, 1], got ", options.dropout_p);
  ProbDropout drop;
  if (options.dropout_p > 0.0) {
    KILN_CHECK(options.dropout_generator != nullptr, op,
               ": dropout_p > 0 needs a dropout_generator (for reproducible masks)");
    drop.p = options.dropout_p;
    drop.seed = options.dropout_generator->seed();
    drop.start = options.dropout_generator->reserve(static_cast<uint64_t>(s.B * s.H * s.Lq * s.Lk));
  }

  const HeadMat qm = head_mat(q), km = head_mat(k), vm = head_mat(v);
  Tensor out = Tensor::empty({s.B, s.H, s.Lq, s.Dv}, q.dtype());
  // Backward needs every head's probabilities; without it each task reuses one head-sized buffer
  // (stays in L2) instead of writing a [B, H, Lq, Lk] tensor nobody reads.
  const bool keep_probs = needs_grad({&q, &k, &v});
  Tensor probs = keep_probs ? Tensor::empty({s.B, s.H, s.Lq, s.Lk}, q.dtype()) : Tensor();
  const int64_t BH = s.B * s.H;
  dispatch_floating(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* qp = static_cast<const T*>(qm.t.raw_data());
    const T* kp = static_cast<const T*>(km.t.raw_data());
    const T* vp = static_cast<const T*>(vm.t.raw_data());
    T* pp = keep_probs ? static_cast<T*>(probs.raw_data()) : nullptr;
    T* op_ = static_cast<T*>(out.raw_data());
    parallel_for(0, BH, 1, [&](int64_t b0, int64_t b1) {
      std::vector<T> scratch, head_probs;
      std::vector<uint8_t> keep;
      if (!keep_probs) head_probs.resize(static_cast<size_t>(s.Lq * s.Lk));
      for (int64_t bh = b0; bh < b1; ++bh) {
        attn_forward_head<T>(
            qp + qm.at(bh, s.H), qm.ld, kp + km.at(bh, s.H), km.ld, vp + vm.at(bh, s.H), vm.ld,
            vis.empty() ? nullptr : vis.data() + (bh / s.H) * s.Lk, causal, static_cast<T>(scale_d),
            s, keep_probs ? pp + bh * s.Lq * s.Lk : head_probs.data(), op_ + bh * s.Lq * s.Dv, drop,
            bh, scratch, keep);
      }
    });
  });
  if (!keep_probs) return out;
  const bool gq = q.requires_grad(), gk = k.requires_grad(), gv = v.requires_grad();
  return record(
      kAttentionOp, out, {q, k, v}, {&qm.t, &km.t, &vm.t, &probs},
      [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor gc = g.contiguous();
        Tensor dq = gq ? Tensor::empty(qm.t.shape(), g.dtype()) : Tensor();
        Tensor dk = gk ? Tensor::empty(km.t.shape(), g.dtype()) : Tensor();
        Tensor dv = gv ? Tensor::empty(vm.t.shape(), g.dtype()) : Tensor();
        dispatch_floating(g.dtype(), "scaled_dot_product_attention_backward", [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* qp = static_cast<const T*>(qm.t.raw_data());
          const T* kp = static_cast<const T*>(km.t.raw_data());
          const T* vp = static_cast<const T*>(vm.t.raw_data());
          const T* pp = static_cast<const T*>(probs.raw_data());
          const T* gp = static_cast<const T*>(gc.raw_data());
          T* dqp = gq ? static_cast<T*>(dq.raw_data()) : nullptr;
          T* dkp = gk ? static_cast<T*>(dk.raw_data()) : nullptr;
          T* dvp = gv ? static_cast<T*>(dv.raw_data()) : nullptr;
          parallel_for(0, BH, 1, [&](int64_t b0, int64_t b1) {
            std::vector<T> scratch, dropped;
            std::vector<uint8_t> keep;
            for (int64_t bh = b0; bh < b1; ++bh) {
              const int64_t oq = bh * s.Lq * s.D, ok = bh * s.Lk * s.D, ov = bh * s.Lk * s.Dv;
              attn_backward_head<T>(qp + qm.at(bh, s.H), qm.ld, kp + km.at(bh, s.H), km.ld,
                                    vp + vm.at(bh, s.H), vm.ld, pp + bh * s.Lq * s.Lk,
                                    gp + bh * s.Lq * s.Dv, static_cast<T>(scale_d), s,
                                    dqp ? dqp + oq : nullptr, dkp ? dkp + ok : nullptr,
                                    dvp ? dvp + ov : nullptr, scratch, drop, bh, dropped, keep);
            }
          });
        });
        return {dq, dk, dv};
      });
}

}  // namespace kiln
