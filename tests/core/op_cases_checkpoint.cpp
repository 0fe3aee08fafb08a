// Harness cases for checkpoint (core/checkpoint.h): the op is whatever function it wraps, here
// dropout(tanh(x) * y, 0.3) + x with a fresh Generator(42) per call (kept alive by the function,
// which the node holds until backward). Its backward recomputes the function with the generator
// replayed, so finite differences and the f64 reference see the same fixed mask.
#include <cmath>
#include <memory>

#include "core/checkpoint.h"
#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

KILN_OP_CASES(checkpoint_cases) {
  for (const Shape& s : {Shape{3, 4}, Shape{2, 3, 5}}) {
    cases.push_back({"checkpoint",
                     "tanh_mul_dropout_residual_rank" + std::to_string(s.size()),
                     {F(s), F(s)},
                     [](const std::vector<Tensor>& x) {
                       auto gen = std::make_shared<Generator>(42);
                       return checkpoint(
                           [gen](const std::vector<Tensor>& in) {
                             return add(dropout(mul(tanh(in[0]), in[1]), 0.3, true, *gen), in[0]);
                           },
                           x, gen.get());
                     },
                     [](const std::vector<Ref>& r) {
                       Ref out = r[0];
                       for (int64_t i = 0; i < out.numel(); ++i) {
                         const bool keep =
                             Generator::uniform_at(42, static_cast<uint64_t>(i)) >= 0.3;
                         out.v[i] =
                             (keep ? std::tanh(r[0].v[i]) * r[1].v[i] / 0.7 : 0.0) + r[0].v[i];
                       }
                       return out;
                     }});
  }
}

}  // namespace
}  // namespace kiln::testing
