// The op test harness. Every primitive op registered with KILN_OP must have at least one OpCase
// here (op_harness_test.cpp fails otherwise). For each case the harness:
//   1. draws seeded f64 input values,
//   2. runs the op in f32 and in f64 on contiguous inputs and again on non-contiguous views of the
//      same values, and compares each with the case's plain f64 reference implementation,
//   3. for every floating input marked `grad`, runs backward in f64 with a random output
//      cotangent and compares each gradient element with a central finite difference,
//   4. writes in place into each input and into the output between forward and backward, and
//      requires backward to refuse (the op saved that tensor) or to give unchanged gradients.
// References are deliberately naive loops over Ref (contiguous f64 arrays), written without kiln
// ops, so a kernel bug cannot hide in its own reference.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace kiln::testing {

// A plain reference tensor: row-major f64 values.
struct Ref {
  Shape shape;
  std::vector<double> v;

  static Ref zeros(const Shape& s) { return {s, std::vector<double>(shape_numel(s), 0.0)}; }
  static Ref full(const Shape& s, double x) { return {s, std::vector<double>(shape_numel(s), x)}; }
  int64_t numel() const { return static_cast<int64_t>(v.size()); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t offset(const std::vector<int64_t>& idx) const;
  double& at(const std::vector<int64_t>& idx) { return v[offset(idx)]; }
  double at(const std::vector<int64_t>& idx) const { return v[offset(idx)]; }
  // Element at `out_idx` of a broadcast to a shape of rank out_idx.size().
  double at_broadcast(const std::vector<int64_t>& out_idx) const;
};

// Calls fn(index) for every multi-index of `shape` in row-major order.
void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& fn);

enum class Kind {
  Float,     // uniform in (-2, 2)
  Positive,  // uniform in (0.5, 2)
  Unit,      // uniform in (-0.9, 0.9)
  Spread,    // distinct values, |x| >= 0.1 and pairwise gaps >= 0.02 (for max/abs/relu kinks)
  Index,     // integers in [0, hi)
  Mask,      // 0/1 bytes (u8)
};

struct InputSpec {
  Shape shape;
  Kind kind = Kind::Float;
  bool grad = true;  // floating inputs only: check the gradient
  int64_t hi = 0;    // Index: exclusive upper bound
  DType int_dtype = DType::I64;
};
inline InputSpec F(Shape s, bool grad = true) {
  return {std::move(s), Kind::Float, grad};
}
inline InputSpec P(Shape s, bool grad = true) {
  return {std::move(s), Kind::Positive, grad};
}
inline InputSpec U(Shape s, bool grad = true) {
  return {std::move(s), Kind::Unit, grad};
}
inline InputSpec S(Shape s, bool grad = true) {
  return {std::move(s), Kind::Spread, grad};
}
inline InputSpec I(Shape s, int64_t hi, DType dt = DType::I64) {
  return {std::move(s), Kind::Index, false, hi, dt};
}
inline InputSpec M(Shape s) {
  return {std::move(s), Kind::Mask, false, 2, DType::U8};
}

struct OpCase {
  std::string op;    // the registered op name this case covers
  std::string name;  // what is special about it (shapes, options)
  std::vector<InputSpec> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> run;
  std::function<Ref(const std::vector<Ref>&)> reference;
  double f32_atol = 1e-5, f32_rtol = 1e-4;  // f32 forward vs f64 reference
  double fd_atol = 1e-6, fd_rtol = 1e-5;    // analytic vs finite-difference gradients (f64)
  bool check_backward = true;
  bool integer_output = false;  // compare exactly (argmax)
};

std::vector<OpCase>& op_cases();

struct CaseRegistrar {
  explicit CaseRegistrar(void (*fn)(std::vector<OpCase>&)) { fn(op_cases()); }
};

}  // namespace kiln::testing

// KILN_OP_CASES(unique_name) { cases.push_back({...}); }
#define KILN_OP_CASES(fn)                                      \
  static void fn(std::vector<::kiln::testing::OpCase>& cases); \
  static ::kiln::testing::CaseRegistrar fn##_registrar(fn);    \
  static void fn(std::vector<::kiln::testing::OpCase>& cases)
