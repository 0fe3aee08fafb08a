// Harness cases for embedding, index_select and gather (duplicate indices are drawn on purpose so
// the scatter-add backwards must accumulate), plus their index validation errors.
#include <gtest/gtest.h>

#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

int64_t wrap(int64_t d, int64_t rank) {
  return d < 0 ? d + rank : d;
}

Ref ref_embedding(const Ref& w, const Ref& idx) {
  const int64_t D = w.shape[1];
  Shape s = idx.shape;
  s.push_back(D);
  Ref out = Ref::zeros(s);
  for (int64_t n = 0; n < idx.numel(); ++n)
    for (int64_t d = 0; d < D; ++d) out.v[n * D + d] = w.at({static_cast<int64_t>(idx.v[n]), d});
  return out;
}

Ref ref_index_select(const Ref& a, int64_t dim, const Ref& idx) {
  dim = wrap(dim, a.dim());
  Shape s = a.shape;
  s[dim] = idx.numel();
  Ref out = Ref::zeros(s);
  for_each_index(s, [&](const std::vector<int64_t>& o) {
    auto i = o;
    i[dim] = static_cast<int64_t>(idx.v[o[dim]]);
    out.at(o) = a.at(i);
  });
  return out;
}

Ref ref_gather(const Ref& a, int64_t dim, const Ref& idx) {
  dim = wrap(dim, a.dim());
  Ref out = Ref::zeros(idx.shape);
  for_each_index(idx.shape, [&](const std::vector<int64_t>& o) {
    auto i = o;
    i[dim] = static_cast<int64_t>(idx.at(o));
    out.at(o) = a.at(i);
  });
  return out;
}

KILN_OP_CASES(indexing_cases) {
  // ---- embedding ----
  struct Emb {
    const char* name;
    Shape w, idx;
    DType dt;
  };
  const Emb embs[] = {{"2d_indices_dups", {5, 3}, {2, 4}, DType::I64},
                      {"1d_i32", {4, 6}, {7}, DType::I32},
                      {"u8", {3, 2}, {5}, DType::U8},
                      {"scalar_index", {4, 3}, {}, DType::I64},
                      {"empty", {5, 3}, {0}, DType::I64}};
  for (const auto& e : embs) {
    cases.push_back({"embedding",
                     e.name,
                     {F(e.w), I(e.idx, e.w[0], e.dt)},
                     [](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); },
                     [](const std::vector<Ref>& r) { return ref_embedding(r[0], r[1]); }});
  }
  // The table itself a transposed (non-unit column stride) view.
  cases.push_back(
      {"embedding",
       "transposed_table",
       {F({3, 5}), I({6}, 5)},
       [](const std::vector<Tensor>& x) { return embedding(transpose(x[0], 0, 1), x[1]); },
       [](const std::vector<Ref>& r) {
         Ref wt = Ref::zeros({5, 3});
         for_each_index({5, 3}, [&](const std::vector<int64_t>& i) {
           wt.at(i) = r[0].at({i[1], i[0]});
         });
         return ref_embedding(wt, r[1]);
       }});

  // ---- index_select ----
  struct Sel {
    const char* name;
    Shape a;
    int64_t dim;
    int64_t n;
  };
  const Sel sels[] = {{"dim0_dups", {5, 3}, 0, 7},
                      {"dim1_3d", {2, 5, 3}, 1, 4},
                      {"last_dim", {3, 4}, -1, 6},
                      {"1d", {6}, 0, 9},
                      {"empty_indices", {4, 3}, 0, 0}};
  for (const auto& c : sels) {
    const int64_t dim = c.dim, bound = c.a[wrap(c.dim, static_cast<int64_t>(c.a.size()))];
    cases.push_back(
        {"index_select",
         c.name,
         {F(c.a), I({c.n}, bound)},
         [dim](const std::vector<Tensor>& x) { return index_select(x[0], dim, x[1]); },
         [dim](const std::vector<Ref>& r) { return ref_index_select(r[0], dim, r[1]); }});
  }

  // ---- gather ----
  struct Gat {
    const char* name;
    Shape a;
    int64_t dim;
    Shape idx;
  };
  const Gat gats[] = {{"dim0_same_shape", {3, 4}, 0, {3, 4}},
                      {"dim1_smaller", {3, 5}, 1, {2, 4}},
                      {"dim1_3d_longer_along_dim", {2, 3, 4}, 1, {2, 6, 3}},
                      {"last_dim", {3, 4}, -1, {3, 2}},
                      {"dim0_smaller_other_dims", {4, 3, 5}, 0, {6, 2, 3}},
                      {"empty", {3, 4}, 1, {3, 0}}};
  for (const auto& c : gats) {
    const int64_t dim = c.dim, bound = c.a[wrap(c.dim, static_cast<int64_t>(c.a.size()))];
    cases.push_back({"gather",
                     c.name,
                     {F(c.a), I(c.idx, bound)},
                     [dim](const std::vector<Tensor>& x) { return gather(x[0], dim, x[1]); },
                     [dim](const std::vector<Ref>& r) { return ref_gather(r[0], dim, r[1]); }});
  }
}

void expect_error_mentions(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a kiln::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

TEST(IndexingOps, embedding_out_of_range_index_names_index_and_vocab) {
  Tensor w = Tensor::zeros({5, 3});
  expect_error_mentions([&] { embedding(w, Tensor::from_ints({1, 7, 2}, {3})); }, {"7", "5"});
  expect_error_mentions([&] { embedding(w, Tensor::from_ints({-1}, {1})); }, {"-1", "5"});
  expect_error_mentions([&] { embedding(w, Tensor::from_floats({1.0f}, {1})); }, {"f32"});
}

TEST(IndexingOps, index_select_and_gather_reject_bad_indices) {
  Tensor a = Tensor::zeros({4, 3});
  expect_error_mentions([&] { index_select(a, 1, Tensor::from_ints({0, 3}, {2})); }, {"3"});
  expect_error_mentions([&] { index_select(a, 0, Tensor::from_ints({0, 1}, {1, 2})); }, {"1-D"});
  expect_error_mentions([&] { gather(a, 0, Tensor::from_ints({4}, {1, 1})); }, {"4"});
  expect_error_mentions([&] { gather(a, 0, Tensor::from_ints({0}, {1})); }, {"rank"});
  expect_error_mentions([&] { gather(a, 0, Tensor::from_ints({0, 0, 0, 0}, {1, 4})); }, {"larger"});
}

// Many duplicate indices over a wide table: the scatter-add backward must sum all of them.
TEST(IndexingOps, embedding_backward_sums_duplicates) {
  Tensor w = Tensor::zeros({3, 40}, DType::F64).set_requires_grad(true);
  std::vector<int64_t> ids(1000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i % 3 == 2 ? 2 : 0);
  sum(embedding(w, Tensor::from_ints(ids, {10, 100}))).backward();
  Tensor g = w.grad();
  int64_t c0 = 0, c2 = 0;
  for (auto id : ids) (id == 0 ? c0 : c2)++;
  for (int64_t d = 0; d < 40; ++d) {
    EXPECT_EQ(g.at({0, d}), static_cast<double>(c0));
    EXPECT_EQ(g.at({1, d}), 0.0);
    EXPECT_EQ(g.at({2, d}), static_cast<double>(c2));
  }
}

}  // namespace
}  // namespace kiln::testing
