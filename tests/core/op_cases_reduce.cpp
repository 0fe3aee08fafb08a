// Harness cases for sum, mean, max, argmax.
#include <algorithm>
#include <cmath>

#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

// Reference reduction: out[kept idx] = fold over reduced dims, in row-major order.
Ref ref_reduce(const Ref& a, std::vector<int64_t> dims, bool keepdim, bool mean) {
  for (auto& d : dims) d = d < 0 ? d + a.dim() : d;
  Shape keep = a.shape, squeezed;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (std::count(dims.begin(), dims.end(), d))
      keep[d] = 1;
    else
      squeezed.push_back(a.shape[d]);
  }
  Ref out = Ref::zeros(keep);
  Ref count = Ref::zeros(keep);
  for_each_index(a.shape, [&](const std::vector<int64_t>& i) {
    std::vector<int64_t> o = i;
    for (int64_t d : dims) o[d] = 0;
    out.at(o) += a.at(i);
    count.at(o) += 1;
  });
  if (mean)
    for (size_t i = 0; i < out.v.size(); ++i) out.v[i] = count.v[i] ? out.v[i] / count.v[i] : NAN;
  if (!keepdim) out.shape = squeezed;
  return out;
}

Ref ref_max(const Ref& a, int64_t dim, bool keepdim, bool want_index) {
  dim = dim < 0 ? dim + a.dim() : dim;
  Shape keep = a.shape, squeezed;
  keep[dim] = 1;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d != dim) squeezed.push_back(a.shape[d]);
  Ref best = Ref::full(keep, -INFINITY), idx = Ref::zeros(keep);
  for_each_index(a.shape, [&](const std::vector<int64_t>& i) {
    std::vector<int64_t> o = i;
    o[dim] = 0;
    if (a.at(i) > best.at(o)) {
      best.at(o) = a.at(i);
      idx.at(o) = static_cast<double>(i[dim]);
    }
  });
  Ref out = want_index ? idx : best;
  if (!keepdim) out.shape = squeezed;
  return out;
}

KILN_OP_CASES(reduce_cases) {
  struct R {
    const char* name;
    Shape shape;
    std::vector<int64_t> dims;
    bool keepdim;
  };
  const R rs[] = {{"last", {3, 5}, {-1}, false},        {"first_keep", {3, 5}, {0}, true},
                  {"middle", {2, 3, 4}, {1}, false},    {"two_dims", {2, 3, 4}, {0, 2}, true},
                  {"size0_kept", {0, 4}, {1}, false},   {"size1", {1, 4}, {0}, false},
                  {"large_rows", {4, 3000}, {1}, false}};
  for (const auto& r : rs) {
    for (bool is_mean : {false, true}) {
      cases.push_back({is_mean ? "mean" : "sum",
                       r.name,
                       {F(r.shape)},
                       [r, is_mean](const std::vector<Tensor>& x) {
                         return is_mean ? mean(x[0], r.dims, r.keepdim)
                                        : sum(x[0], r.dims, r.keepdim);
                       },
                       [r, is_mean](const std::vector<Ref>& in) {
                         return ref_reduce(in[0], r.dims, r.keepdim, is_mean);
                       }});
      cases.back().check_backward = r.shape[1] < 100;  // FD over 12k elements is slow
    }
  }
  cases.push_back({"sum",
                   "all",
                   {F({3, 4})},
                   [](const std::vector<Tensor>& x) { return sum(x[0]); },
                   [](const std::vector<Ref>& in) {
                     return ref_reduce(in[0], {0, 1}, false, false);
                   }});
  // More than one 4096-element block: the blocked, thread-independent path.
  cases.push_back({"sum",
                   "all_blocked",
                   {F({3, 5000})},
                   [](const std::vector<Tensor>& x) { return sum(x[0]); },
                   [](const std::vector<Ref>& in) {
                     return ref_reduce(in[0], {0, 1}, false, false);
                   }});
  cases.back().check_backward = false;
  cases.back().f32_atol = 1e-3;
  cases.push_back({"mean",
                   "all",
                   {F({3, 4})},
                   [](const std::vector<Tensor>& x) { return mean(x[0]); },
                   [](const std::vector<Ref>& in) {
                     return ref_reduce(in[0], {0, 1}, false, true);
                   }});

  for (const auto& [name, shape, dim, keep] :
       {std::tuple{"last", Shape{3, 5}, int64_t{-1}, false},
        std::tuple{"first_keep", Shape{4, 3}, int64_t{0}, true},
        std::tuple{"middle", Shape{2, 3, 4}, int64_t{1}, false}}) {
    cases.push_back(
        {"max",
         name,
         {S(shape)},
         [dim, keep](const std::vector<Tensor>& x) { return max(x[0], dim, keep); },
         [dim, keep](const std::vector<Ref>& in) { return ref_max(in[0], dim, keep, false); }});
    OpCase c{"argmax",
             name,
             {S(shape, false)},
             [dim, keep](const std::vector<Tensor>& x) { return argmax(x[0], dim, keep); },
             [dim, keep](const std::vector<Ref>& in) { return ref_max(in[0], dim, keep, true); }};
    c.check_backward = false;
    c.integer_output = true;
    cases.push_back(c);
  }
}

}  // namespace
}  // namespace kiln::testing
