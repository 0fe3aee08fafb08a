// Harness cases for scaled_dot_product_attention: no mask, key padding masks (u8/i64/i32, strided),
// a fully masked row, causal masks with Lq == Lk, Lq < Lk (KV-cache decode) and Lq > Lk, custom
// scale, D != Dv, empty keys and dropout on the probabilities. Gradients are checked for q, k, v.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/ops/dropout_keep.h"
#include "core/rng.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

enum class MaskMode {
  None,
  AtLeastOne,     // each batch row attends key (b % Lk), whatever was drawn
  FirstRowEmpty,  // batch row 0 attends nothing; others as AtLeastOne
};

// Applies MaskMode to drawn 0/1 mask values [B, Lk].
std::vector<double> adjust_mask(std::vector<double> m, int64_t B, int64_t Lk, MaskMode mode) {
  for (int64_t b = 0; b < B; ++b) {
    if (mode == MaskMode::FirstRowEmpty && b == 0) {
      for (int64_t j = 0; j < Lk; ++j) m[j] = 0;
    } else if (Lk > 0) {
      m[b * Lk + b % Lk] = 1;
    }
  }
  return m;
}

// The key_padding_mask tensor for a drawn mask input: adjusted, converted to `dt`, and laid out
// non-contiguously when the harness handed us a non-contiguous input.
Tensor make_mask(const Tensor& raw, MaskMode mode, DType dt) {
  const int64_t B = raw.size(0), Lk = raw.size(1);
  auto m = adjust_mask(raw.to_vector(), B, Lk, mode);
  if (raw.is_contiguous()) return Tensor::from_vector(m, {B, Lk}, dt);
  std::vector<double> big(static_cast<size_t>(B * Lk * 2), 7.0);  // poison = "attend"
  for (int64_t i = 0; i < B * Lk; ++i) big[2 * i] = m[i];
  return slice(Tensor::from_vector(big, {B, 2 * Lk}, dt), 1, 0, 2 * Lk, 2);
}

// Dropout on the probabilities as the op defines it: counter ((b * H + h) * Lq + i) * Lk + j of a
// generator seeded kDropSeed at offset 0 (the cases build a fresh one per call, so every
// finite-difference evaluation sees the same mask).
constexpr uint64_t kDropSeed = 1234;

double keep_scale(double p, uint64_t counter) {
  bool kept = false;
  for_each_dropout_keep(kDropSeed, counter, 1, static_cast<float>(p),
                        [&](int64_t, bool keep) { kept = keep; });
  return kept ? 1.0 / (1.0 - p) : 0.0;
}

Ref ref_attention(const Ref& q, const Ref& k, const Ref& v, const Ref* mask, MaskMode mode,
                  bool causal, double scale, double drop_p = 0.0) {
  const int64_t B = q.shape[0], H = q.shape[1], Lq = q.shape[2], D = q.shape[3];
  const int64_t Lk = k.shape[2], Dv = v.shape[3];
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> m(static_cast<size_t>(B * Lk), 1.0);
  if (mask) m = adjust_mask(mask->v, B, Lk, mode);
  Ref out = Ref::zeros({B, H, Lq, Dv});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        std::vector<double> s(static_cast<size_t>(Lk));
        std::vector<bool> ok(static_cast<size_t>(Lk));
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Lk; ++j) {
          ok[j] = m[b * Lk + j] != 0 && (!causal || j <= i + (Lk - Lq));
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q.at({b, h, i, d}) * k.at({b, h, j, d});
          s[j] = dot * scale;
          if (ok[j]) mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < Lk; ++j) z += ok[j] ? std::exp(s[j] - mx) : 0.0;
        if (z == 0) continue;  // fully masked: zero row
        for (int64_t e = 0; e < Dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < Lk; ++j) {
            const double d =
                drop_p > 0
                    ? keep_scale(drop_p, static_cast<uint64_t>(((b * H + h) * Lq + i) * Lk + j))
                    : 1.0;
            if (ok[j]) acc += std::exp(s[j] - mx) / z * d * v.at({b, h, j, e});
          }
          out.at({b, h, i, e}) = acc;
        }
      }
  return out;
}

struct AttnCase {
  const char* name;
  int64_t B, H, Lq, Lk, D, Dv;
  MaskMode mask;
  DType mask_dt;
  bool causal;
  double scale;
  double dropout = 0.0;
};

KILN_OP_CASES(attention_cases) {
  const AttnCase acs[] = {
      {"no_mask", 2, 2, 3, 5, 4, 4, MaskMode::None, DType::U8, false, 0.0},
      {"padding_u8", 2, 2, 3, 5, 4, 4, MaskMode::AtLeastOne, DType::U8, false, 0.0},
      {"padding_i64", 3, 1, 2, 4, 3, 3, MaskMode::AtLeastOne, DType::I64, false, 0.0},
      {"padding_i32", 2, 1, 2, 4, 3, 2, MaskMode::AtLeastOne, DType::I32, false, 0.0},
      {"fully_masked_row_zero", 2, 2, 3, 4, 3, 3, MaskMode::FirstRowEmpty, DType::U8, false, 0.0},
      {"causal_square", 1, 2, 4, 4, 3, 3, MaskMode::None, DType::U8, true, 0.0},
      {"causal_decode_lq_lt_lk", 2, 2, 2, 5, 3, 3, MaskMode::None, DType::U8, true, 0.0},
      {"causal_single_query", 1, 2, 1, 6, 4, 4, MaskMode::None, DType::U8, true, 0.0},
      {"causal_lq_gt_lk_masked_rows", 1, 1, 4, 2, 3, 3, MaskMode::None, DType::U8, true, 0.0},
      {"causal_and_padding", 2, 1, 4, 4, 3, 3, MaskMode::AtLeastOne, DType::U8, true, 0.0},
      {"custom_scale", 1, 2, 3, 4, 4, 4, MaskMode::None, DType::U8, false, 0.7},
      {"d_ne_dv", 2, 1, 3, 4, 3, 5, MaskMode::AtLeastOne, DType::U8, false, 0.0},
      {"empty_keys", 1, 2, 3, 0, 3, 2, MaskMode::None, DType::U8, false, 0.0},
      {"dropout_padding", 2, 2, 3, 5, 4, 4, MaskMode::AtLeastOne, DType::U8, false, 0.0, 0.3},
      {"dropout_causal", 1, 2, 4, 4, 3, 3, MaskMode::None, DType::U8, true, 0.0, 0.5},
  };
  for (const auto& c : acs) {
    std::vector<InputSpec> ins = {F({c.B, c.H, c.Lq, c.D}), F({c.B, c.H, c.Lk, c.D}),
                                  F({c.B, c.H, c.Lk, c.Dv})};
    const bool has_mask = c.mask != MaskMode::None;
    if (has_mask) ins.push_back(M({c.B, c.Lk}));
    const MaskMode mode = c.mask;
    const DType mdt = c.mask_dt;
    const bool causal = c.causal;
    const double scale = c.scale, drop_p = c.dropout;
    cases.push_back({"scaled_dot_product_attention", c.name, ins,
                     [=](const std::vector<Tensor>& x) {
                       AttentionOptions o;
                       o.causal = causal;
                       o.scale = scale;
                       if (has_mask) o.key_padding_mask = make_mask(x[3], mode, mdt);
                       Generator gen(kDropSeed);
                       if (drop_p > 0) {
                         o.dropout_p = drop_p;
                         o.dropout_generator = &gen;
                       }
                       return scaled_dot_product_attention(x[0], x[1], x[2], o);
                     },
                     [=](const std::vector<Ref>& r) {
                       return ref_attention(r[0], r[1], r[2], has_mask ? &r[3] : nullptr, mode,
                                            causal, scale, drop_p);
                     }});
  }
  // q/k/v as views used in place by GEMM (unit-stride rows, non-contiguous): heads permuted out of
  // [B, L, H, D] projections, and k/v shared by all heads through expand (stride 0 over H).
  cases.push_back({"scaled_dot_product_attention",
                   "permuted_and_expanded_views",
                   {F({2, 3, 2, 4}), F({2, 1, 5, 4}), F({2, 5, 2, 3}), M({2, 5})},
                   [](const std::vector<Tensor>& x) {
                     AttentionOptions o;
                     o.key_padding_mask = make_mask(x[3], MaskMode::AtLeastOne, DType::U8);
                     return scaled_dot_product_attention(permute(x[0], {0, 2, 1, 3}),
                                                         expand(x[1], {2, 2, 5, 4}),
                                                         permute(x[2], {0, 2, 1, 3}), o);
                   },
                   [](const std::vector<Ref>& r) {
                     Ref q = Ref::zeros({2, 2, 3, 4}), k = Ref::zeros({2, 2, 5, 4}),
                         v = Ref::zeros({2, 2, 5, 3});
                     for_each_index(q.shape, [&](const std::vector<int64_t>& i) {
                       q.at(i) = r[0].at({i[0], i[2], i[1], i[3]});
                     });
                     for_each_index(k.shape, [&](const std::vector<int64_t>& i) {
                       k.at(i) = r[1].at({i[0], 0, i[2], i[3]});
                     });
                     for_each_index(v.shape, [&](const std::vector<int64_t>& i) {
                       v.at(i) = r[2].at({i[0], i[2], i[1], i[3]});
                     });
                     return ref_attention(q, k, v, &r[3], MaskMode::AtLeastOne, false, 0.0);
                   }});
}

// The fully masked row is exactly zero in the output and gives exactly zero gradients (no NaN).
TEST(AttentionOp, fully_masked_batch_gives_exact_zeros) {
  Generator gen(5);
  Tensor q = Tensor::randn({2, 2, 3, 4}, gen).set_requires_grad(true);
  Tensor k = Tensor::randn({2, 2, 5, 4}, gen).set_requires_grad(true);
  Tensor v = Tensor::randn({2, 2, 5, 4}, gen).set_requires_grad(true);
  AttentionOptions o;
  o.key_padding_mask = Tensor::from_ints({0, 0, 0, 0, 0, 1, 1, 0, 1, 0}, {2, 5}, DType::U8);
  Tensor out = scaled_dot_product_attention(q, k, v, o);
  sum(out).backward();
  for (double x : select(out, 0, 0).to_vector()) EXPECT_EQ(x, 0.0);
  for (const Tensor& t : {q.grad(), k.grad(), v.grad()}) {
    for (double x : select(t, 0, 0).to_vector()) EXPECT_EQ(x, 0.0);
    for (double x : t.to_vector()) EXPECT_TRUE(std::isfinite(x));
  }
  // Batch 1: padded keys 2 and 4 get no gradient.
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t d = 0; d < 4; ++d) {
      EXPECT_EQ(k.grad().at({1, h, 2, d}), 0.0);
      EXPECT_EQ(v.grad().at({1, h, 4, d}), 0.0);
    }
}

TEST(AttentionOp, rejects_bad_shapes_and_masks) {
  Tensor q = Tensor::zeros({1, 2, 3, 4}), k = Tensor::zeros({1, 2, 5, 4});
  Tensor v = Tensor::zeros({1, 2, 5, 6});
  EXPECT_THROW(scaled_dot_product_attention(q, Tensor::zeros({1, 2, 5, 3}), v), Error);
  EXPECT_THROW(scaled_dot_product_attention(q, k, Tensor::zeros({1, 2, 4, 6})), Error);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v.to(DType::F64)), Error);
  EXPECT_THROW(scaled_dot_product_attention(Tensor::zeros({2, 3, 4}), k, v), Error);
  AttentionOptions o;
  o.key_padding_mask = Tensor::zeros({1, 4}, DType::U8);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, o), Error);
  o.key_padding_mask = Tensor::ones({1, 5}, DType::F32);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, o), Error);
  EXPECT_EQ(scaled_dot_product_attention(q, k, v).shape(), (Shape{1, 2, 3, 6}));
}

}  // namespace
}  // namespace kiln::testing
