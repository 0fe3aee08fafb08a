// Harness cases for concat and stack (incl. empty parts and negative dims), plus their errors.
#include <gtest/gtest.h>

#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

// Reference concat along dim of parts with equal rank (1-D empty parts are skipped, as torch).
Ref ref_concat(const std::vector<Ref>& parts, int64_t dim) {
  std::vector<const Ref*> used;
  for (const auto& p : parts)
    if (!(p.dim() == 1 && p.numel() == 0)) used.push_back(&p);
  if (used.empty()) used.push_back(&parts[0]);
  const int64_t rank = used[0]->dim();
  if (dim < 0) dim += rank;
  Shape s = used[0]->shape;
  s[dim] = 0;
  for (const Ref* p : used) s[dim] += p->shape[dim];
  Ref out = Ref::zeros(s);
  int64_t at = 0;
  for (const Ref* p : used) {
    for_each_index(p->shape, [&](const std::vector<int64_t>& i) {
      auto o = i;
      o[dim] += at;
      out.at(o) = p->at(i);
    });
    at += p->shape[dim];
  }
  return out;
}

Ref ref_stack(const std::vector<Ref>& parts, int64_t dim) {
  const int64_t rank = parts[0].dim() + 1;
  if (dim < 0) dim += rank;
  Shape s = parts[0].shape;
  s.insert(s.begin() + dim, static_cast<int64_t>(parts.size()));
  Ref out = Ref::zeros(s);
  for_each_index(s, [&](const std::vector<int64_t>& o) {
    auto i = o;
    i.erase(i.begin() + dim);
    out.at(o) = parts[o[dim]].at(i);
  });
  return out;
}

KILN_OP_CASES(concat_cases) {
  struct Cat {
    const char* name;
    std::vector<Shape> parts;
    int64_t dim;
  };
  const Cat cats[] = {{"dim0", {{2, 3}, {4, 3}}, 0},
                      {"dim1_with_empty_part", {{2, 3}, {2, 0}, {2, 4}}, 1},
                      {"negative_dim_3d", {{2, 3, 4}, {2, 3, 1}, {2, 3, 2}}, -1},
                      {"middle_dim_3d", {{2, 1, 3}, {2, 4, 3}}, 1},
                      {"single_part", {{3, 2}}, 0},
                      {"legacy_empty_1d_part", {{2, 3}, {0}, {1, 3}}, 0},
                      {"all_empty", {{0, 3}, {0, 3}}, 0}};
  for (const auto& c : cats) {
    std::vector<InputSpec> ins;
    for (const auto& s : c.parts) ins.push_back(F(s));
    const int64_t dim = c.dim;
    cases.push_back({"concat", c.name, ins,
                     [dim](const std::vector<Tensor>& x) { return concat(x, dim); },
                     [dim](const std::vector<Ref>& r) { return ref_concat(r, dim); }});
  }
  // One part without a gradient: only the others get slices.
  cases.push_back({"concat",
                   "part_without_grad",
                   {F({2, 2}), F({2, 3}, false), F({2, 1})},
                   [](const std::vector<Tensor>& x) { return concat(x, 1); },
                   [](const std::vector<Ref>& r) { return ref_concat(r, 1); }});

  struct Stk {
    const char* name;
    Shape shape;
    int64_t n, dim;
  };
  const Stk stks[] = {{"dim0", {2, 3}, 3, 0},
                      {"new_last_dim", {2, 3}, 2, -1},
                      {"middle", {2, 3}, 3, 1},
                      {"scalars", {}, 4, 0},
                      {"size0", {0, 2}, 2, 1}};
  for (const auto& c : stks) {
    std::vector<InputSpec> ins(static_cast<size_t>(c.n), F(c.shape));
    const int64_t dim = c.dim;
    cases.push_back({"stack", c.name, ins,
                     [dim](const std::vector<Tensor>& x) { return stack(x, dim); },
                     [dim](const std::vector<Ref>& r) { return ref_stack(r, dim); }});
  }
}

TEST(ConcatOps, concat_and_stack_reject_mismatches) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({2, 3}, DType::F64);
  EXPECT_THROW(concat({a, b}, 0), Error);
  EXPECT_THROW(stack({a, b}, 0), Error);
  EXPECT_THROW(concat({a, Tensor::zeros({3, 3})}, 1), Error);
  EXPECT_THROW(concat({a, Tensor::zeros({2, 3, 1})}, 0), Error);
  EXPECT_THROW(stack({a, Tensor::zeros({3, 2})}, 0), Error);
  EXPECT_THROW(concat({}, 0), Error);
  EXPECT_THROW(stack({}, 0), Error);
  EXPECT_THROW(concat({a, a}, 2), Error);
  try {
    concat({a, b}, 0);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("f32"), std::string::npos) << msg;
    EXPECT_NE(msg.find("f64"), std::string::npos) << msg;
  }
}

// Integer tensors (token ids) concatenate too; they carry no gradient.
TEST(ConcatOps, concat_integer_parts) {
  Tensor a = Tensor::from_ints({1, 2, 3, 4}, {2, 2}), b = Tensor::from_ints({5, 6}, {2, 1});
  Tensor c = concat({a, transpose(b, 0, 1).reshape({2, 1})}, 1);
  EXPECT_EQ(c.to_ints(), (std::vector<int64_t>{1, 2, 5, 3, 4, 6}));
  Tensor s = stack({b, b}, 0);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 1}));
  EXPECT_EQ(s.to_ints(), (std::vector<int64_t>{5, 6, 5, 6}));
}

}  // namespace
}  // namespace kiln::testing
