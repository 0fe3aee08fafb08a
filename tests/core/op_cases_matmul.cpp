// Harness cases for matmul (incl. batched broadcasting and transposed operands) and linear.
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

// Batched reference: a[..., M, K] @ b[..., K, N] with broadcast batch dims (both >= 2-D).
Ref ref_matmul(const Ref& a, const Ref& b) {
  const int64_t m = a.shape[a.dim() - 2], k = a.shape[a.dim() - 1], n = b.shape[b.dim() - 1];
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch = broadcast_shapes(ba, bb);
  Shape os = batch;
  os.push_back(m);
  os.push_back(n);
  Ref out = Ref::zeros(os);
  for_each_index(os, [&](const std::vector<int64_t>& o) {
    double s = 0;
    for (int64_t p = 0; p < k; ++p) {
      std::vector<int64_t> ia(o.begin(), o.end() - 2), ib = ia;
      ia.push_back(o[o.size() - 2]);
      ia.push_back(p);
      ib.push_back(p);
      ib.push_back(o.back());
      s += a.at_broadcast(ia) * b.at_broadcast(ib);
    }
    out.at(o) = s;
  });
  return out;
}

Ref transpose_last2(const Ref& a) {
  Shape s = a.shape;
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  Ref out = Ref::zeros(s);
  for_each_index(a.shape, [&](const std::vector<int64_t>& i) {
    auto j = i;
    std::swap(j[j.size() - 1], j[j.size() - 2]);
    out.at(j) = a.at(i);
  });
  return out;
}

KILN_OP_CASES(matmul_cases) {
  struct MM {
    const char* name;
    Shape a, b;
  };
  const MM mms[] = {{"2d", {3, 4}, {4, 5}},
                    {"batched", {2, 3, 4}, {2, 4, 2}},
                    {"broadcast_b", {2, 3, 4}, {4, 5}},
                    {"broadcast_batch", {2, 1, 3, 4}, {3, 4, 2}},
                    {"k0", {2, 0}, {0, 3}},
                    {"m1n1", {1, 4}, {4, 1}}};
  for (const auto& c : mms) {
    cases.push_back({"matmul",
                     c.name,
                     {F(c.a), F(c.b)},
                     [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); },
                     [](const std::vector<Ref>& r) { return ref_matmul(r[0], r[1]); }});
  }
  // Operand given as a transposed view: GEMM must take it as a transpose, not misread it.
  cases.push_back(
      {"matmul",
       "transposed_b",
       {F({3, 4}), F({5, 4})},
       [](const std::vector<Tensor>& x) { return matmul(x[0], transpose(x[1], 0, 1)); },
       [](const std::vector<Ref>& r) { return ref_matmul(r[0], transpose_last2(r[1])); }});
  cases.push_back(
      {"matmul",
       "transposed_a_batched",
       {F({2, 4, 3}), F({2, 4, 5})},
       [](const std::vector<Tensor>& x) { return matmul(transpose(x[0], 1, 2), x[1]); },
       [](const std::vector<Ref>& r) { return ref_matmul(transpose_last2(r[0]), r[1]); }});
  cases.push_back({"matmul",
                   "vector_rhs",
                   {F({3, 4}), F({4})},
                   [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); },
                   [](const std::vector<Ref>& r) {
                     Ref b{{4, 1}, r[1].v};
                     Ref o = ref_matmul(r[0], b);
                     o.shape = {3};
                     return o;
                   }});

  auto ref_linear = [](const std::vector<Ref>& r) {
    const Ref& x = r[0];
    const Ref& w = r[1];
    const int64_t in = w.shape[1], outf = w.shape[0];
    Shape os = x.shape;
    os.back() = outf;
    Ref out = Ref::zeros(os);
    const int64_t rows = x.numel() / std::max<int64_t>(in, 1);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t o = 0; o < outf; ++o) {
        double s = r.size() > 2 ? r[2].v[o] : 0.0;
        for (int64_t k = 0; k < in; ++k) s += x.v[i * in + k] * w.v[o * in + k];
        out.v[i * outf + o] = s;
      }
    return out;
  };
  cases.push_back({"linear",
                   "bias_3d",
                   {F({2, 3, 4}), F({5, 4}), F({5})},
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                   ref_linear});
  cases.push_back({"linear",
                   "no_bias",
                   {F({3, 4}), F({2, 4})},
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], Tensor()); },
                   ref_linear});
  cases.push_back({"linear",
                   "empty_batch",
                   {F({0, 4}), F({2, 4}), F({2})},
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                   ref_linear});
}

}  // namespace
}  // namespace kiln::testing
