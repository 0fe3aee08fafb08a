// Harness cases for views, copies and casts.
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

Ref ref_permute(const Ref& a, const std::vector<int64_t>& dims) {
  Shape s(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) s[i] = a.shape[dims[i]];
  Ref out = Ref::zeros(s);
  for_each_index(s, [&](const std::vector<int64_t>& o) {
    std::vector<int64_t> i(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) i[dims[k]] = o[k];
    out.at(o) = a.at(i);
  });
  return out;
}

Ref reshaped(Ref a, Shape s) {
  a.shape = std::move(s);
  return a;
}

KILN_OP_CASES(shape_cases) {
  cases.push_back({"reshape",
                   "merge",
                   {F({2, 3, 4})},
                   [](const std::vector<Tensor>& x) {
                     return reshape(x[0], {6, -1});
                   },
                   [](const std::vector<Ref>& r) {
                     return reshaped(r[0], {6, 4});
                   }});
  cases.push_back(
      {"reshape",
       "of_transpose",
       {F({3, 4})},
       [](const std::vector<Tensor>& x) { return reshape(transpose(x[0], 0, 1), {12}); },
       [](const std::vector<Ref>& r) {
         return reshaped(ref_permute(r[0], {1, 0}), {12});
       }});
  cases.push_back({"reshape",
                   "size0",
                   {F({0, 3})},
                   [](const std::vector<Tensor>& x) {
                     return reshape(x[0], {3, 0});
                   },
                   [](const std::vector<Ref>& r) {
                     return reshaped(r[0], {3, 0});
                   }});
  cases.push_back({"permute",
                   "3d",
                   {F({2, 3, 4})},
                   [](const std::vector<Tensor>& x) {
                     return permute(x[0], {2, 0, 1}).contiguous();
                   },
                   [](const std::vector<Ref>& r) {
                     return ref_permute(r[0], {2, 0, 1});
                   }});
  cases.push_back({"transpose",
                   "negative_dims",
                   {F({2, 3, 4})},
                   [](const std::vector<Tensor>& x) { return transpose(x[0], -1, -3); },
                   [](const std::vector<Ref>& r) {
                     return ref_permute(r[0], {2, 1, 0});
                   }});
  for (const auto& [name, dim, start, end, step] :
       {std::tuple{"rows", int64_t{0}, int64_t{1}, int64_t{3}, int64_t{1}},
        std::tuple{"cols_step", int64_t{1}, int64_t{0}, int64_t{5}, int64_t{2}},
        std::tuple{"negative", int64_t{-1}, int64_t{-3}, int64_t{-1}, int64_t{1}},
        std::tuple{"empty", int64_t{0}, int64_t{2}, int64_t{2}, int64_t{1}}}) {
    cases.push_back(
        {"slice",
         name,
         {F({4, 5})},
         [=](const std::vector<Tensor>& x) { return slice(x[0], dim, start, end, step); },
         [=](const std::vector<Ref>& r) {
           const Ref& a = r[0];
           const int64_t d = dim < 0 ? dim + 2 : dim;
           const int64_t n = a.shape[d];
           const int64_t s0 = start < 0 ? start + n : start, e0 = end < 0 ? end + n : end;
           Shape s = a.shape;
           s[d] = (e0 - s0 + step - 1) / step;
           Ref out = Ref::zeros(s);
           for_each_index(s, [&](const std::vector<int64_t>& o) {
             auto i = o;
             i[d] = s0 + o[d] * step;
             out.at(o) = a.at(i);
           });
           return out;
         }});
  }
  cases.push_back({"select",
                   "middle",
                   {F({3, 4, 2})},
                   [](const std::vector<Tensor>& x) { return select(x[0], 1, -2); },
                   [](const std::vector<Ref>& r) {
                     Ref out = Ref::zeros({3, 2});
                     for_each_index({3, 2}, [&](const std::vector<int64_t>& o) {
                       out.at(o) = r[0].at({o[0], 2, o[1]});
                     });
                     return out;
                   }});
  cases.push_back({"expand",
                   "broadcast",
                   {F({3, 1})},
                   [](const std::vector<Tensor>& x) {
                     return expand(x[0], {2, 3, 4});
                   },
                   [](const std::vector<Ref>& r) {
                     Ref out = Ref::zeros({2, 3, 4});
                     for_each_index(out.shape, [&](const std::vector<int64_t>& o) {
                       out.at(o) = r[0].at_broadcast(o);
                     });
                     return out;
                   }});
  cases.push_back({"unsqueeze",
                   "middle",
                   {F({3, 4})},
                   [](const std::vector<Tensor>& x) { return unsqueeze(x[0], 1); },
                   [](const std::vector<Ref>& r) {
                     return reshaped(r[0], {3, 1, 4});
                   }});
  cases.push_back({"squeeze",
                   "last",
                   {F({3, 1})},
                   [](const std::vector<Tensor>& x) { return squeeze(x[0], -1); },
                   [](const std::vector<Ref>& r) { return reshaped(r[0], {3}); }});
  cases.push_back({"clone",
                   "plain",
                   {F({3, 4})},
                   [](const std::vector<Tensor>& x) { return clone(x[0]); },
                   [](const std::vector<Ref>& r) { return r[0]; }});
  cases.push_back({"contiguous",
                   "of_permute",
                   {F({3, 4})},
                   [](const std::vector<Tensor>& x) {
                     return contiguous(permute(x[0], {1, 0}));
                   },
                   [](const std::vector<Ref>& r) {
                     return ref_permute(r[0], {1, 0});
                   }});
  // cast round trip x -> f64 -> x's dtype is exact and passes gradients through.
  cases.push_back(
      {"cast",
       "roundtrip",
       {F({2, 3})},
       [](const std::vector<Tensor>& x) { return cast(cast(x[0], DType::F64), x[0].dtype()); },
       [](const std::vector<Ref>& r) { return r[0]; }});
  for (const auto& [name, sizes, dim] :
       {std::tuple{"rows", std::vector<int64_t>{1, 3}, int64_t{0}},
        std::tuple{"cols_with_empty", std::vector<int64_t>{2, 0, 3}, int64_t{1}}}) {
    cases.push_back({"split",
                     name,
                     {F({4, 5})},
                     [=](const std::vector<Tensor>& x) {
                       auto parts =
                           split(x[0], sizes, dim);  // the last part; earlier parts get zero grad
                       return parts.back().contiguous();
                     },
                     [=](const std::vector<Ref>& r) {
                       const Ref& a = r[0];
                       const int64_t last = sizes.back();
                       const int64_t start = a.shape[dim] - last;
                       Shape s = a.shape;
                       s[dim] = last;
                       Ref out = Ref::zeros(s);
                       for_each_index(s, [&](const std::vector<int64_t>& o) {
                         auto i = o;
                         i[dim] += start;
                         out.at(o) = a.at(i);
                       });
                       return out;
                     }});
  }
}

}  // namespace
}  // namespace kiln::testing
