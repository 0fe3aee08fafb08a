// Harness cases for broadcasting binary ops, pow, where, masked_fill and the unary maths.
#include <cmath>

#include "tests/core/op_harness.h"

namespace kiln::testing {
namespace {

using BinFn = double (*)(double, double);

Ref ref_binary(const Ref& a, const Ref& b, BinFn f) {
  Ref out = Ref::zeros(broadcast_shapes(a.shape, b.shape));
  for_each_index(out.shape, [&](const std::vector<int64_t>& i) {
    out.at(i) = f(a.at_broadcast(i), b.at_broadcast(i));
  });
  return out;
}

Ref ref_unary(const Ref& a, double (*f)(double)) {
  Ref out = a;
  for (auto& x : out.v) x = f(x);
  return out;
}

void add_binary(std::vector<OpCase>& cases, const std::string& op,
                Tensor (*fn)(const Tensor&, const Tensor&), BinFn ref, Kind kb) {
  struct ShapePair {
    const char* name;
    Shape a, b;
  };
  const ShapePair shapes[] = {
      {"same", {3, 4}, {3, 4}},   {"row_broadcast", {3, 4}, {4}}, {"col_broadcast", {3, 1}, {1, 4}},
      {"scalar_rhs", {2, 3}, {}}, {"rank3", {2, 1, 3}, {4, 1}},   {"size0", {0, 3}, {3}},
      {"size1", {1, 1}, {1}},
  };
  for (const auto& s : shapes) {
    InputSpec sa = F(s.a), sb = F(s.b);
    sb.kind = kb;
    if (op == "maximum") sa.kind = sb.kind = Kind::Spread;
    cases.push_back({op,
                     s.name,
                     {sa, sb},
                     [fn](const std::vector<Tensor>& in) { return fn(in[0], in[1]); },
                     [ref](const std::vector<Ref>& r) { return ref_binary(r[0], r[1], ref); }});
  }
}

void add_unary(std::vector<OpCase>& cases, const std::string& op, Tensor (*fn)(const Tensor&),
               double (*ref)(double), Kind kind) {
  for (const Shape& s : {Shape{2, 5}, Shape{}, Shape{0, 4}, Shape{3, 1, 4}}) {
    InputSpec in = F(s);
    in.kind = kind;
    cases.push_back({op,
                     shape_str(s),
                     {in},
                     [fn](const std::vector<Tensor>& x) { return fn(x[0]); },
                     [ref](const std::vector<Ref>& r) { return ref_unary(r[0], ref); }});
  }
}

double gelu_exact(double x) {
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

KILN_OP_CASES(elementwise_cases) {
  add_binary(
      cases, "add", add, [](double a, double b) { return a + b; }, Kind::Float);
  add_binary(
      cases, "sub", sub, [](double a, double b) { return a - b; }, Kind::Float);
  add_binary(
      cases, "mul", mul, [](double a, double b) { return a * b; }, Kind::Float);
  add_binary(
      cases, "div", div, [](double a, double b) { return a / b; }, Kind::Positive);
  add_binary(
      cases, "maximum", maximum, [](double a, double b) { return a >= b ? a : b; }, Kind::Spread);

  for (double e : {2.0, 0.5, -1.5, 3.0}) {
    cases.push_back({"pow",
                     "exp_" + std::to_string(e),
                     {P({2, 3})},
                     [e](const std::vector<Tensor>& x) { return pow(x[0], e); },
                     [e](const std::vector<Ref>& r) {
                       Ref o = r[0];
                       for (auto& v : o.v) v = std::pow(v, e);
                       return o;
                     }});
  }
  cases.push_back({"add",
                   "scalar_overload",
                   {F({2, 3})},
                   [](const std::vector<Tensor>& x) { return add(x[0], 1.5); },
                   [](const std::vector<Ref>& r) {
                     Ref o = r[0];
                     for (auto& v : o.v) v += 1.5;
                     return o;
                   }});
  cases.push_back({"mul",
                   "scalar_overload",
                   {F({2, 3})},
                   [](const std::vector<Tensor>& x) { return mul(x[0], -0.25); },
                   [](const std::vector<Ref>& r) {
                     Ref o = r[0];
                     for (auto& v : o.v) v *= -0.25;
                     return o;
                   }});

  for (const auto& [name, cs, as, bs] :
       {std::tuple{"same", Shape{3, 4}, Shape{3, 4}, Shape{3, 4}},
        std::tuple{"broadcast", Shape{3, 1}, Shape{1, 4}, Shape{3, 4}},
        std::tuple{"size0", Shape{0, 2}, Shape{0, 2}, Shape{2}}}) {
    cases.push_back(
        {"where",
         name,
         {M(cs), F(as), F(bs)},
         [](const std::vector<Tensor>& x) { return where(x[0], x[1], x[2]); },
         [](const std::vector<Ref>& r) {
           Shape s = broadcast_shapes(broadcast_shapes(r[0].shape, r[1].shape), r[2].shape);
           Ref o = Ref::zeros(s);
           for_each_index(s, [&](const std::vector<int64_t>& i) {
             o.at(i) = r[0].at_broadcast(i) != 0 ? r[1].at_broadcast(i) : r[2].at_broadcast(i);
           });
           return o;
         }});
  }
  for (const auto& [name, xs, ms] : {std::tuple{"same", Shape{3, 4}, Shape{3, 4}},
                                     std::tuple{"key_padding", Shape{2, 3, 4}, Shape{2, 1, 4}}}) {
    cases.push_back({"masked_fill",
                     name,
                     {F(xs), M(ms)},
                     [](const std::vector<Tensor>& x) { return masked_fill(x[0], x[1], -7.5); },
                     [](const std::vector<Ref>& r) {
                       Ref o = r[0];
                       for_each_index(o.shape, [&](const std::vector<int64_t>& i) {
                         if (r[1].at_broadcast(i) != 0) o.at(i) = -7.5;
                       });
                       return o;
                     }});
  }

  add_unary(
      cases, "neg", neg, [](double x) { return -x; }, Kind::Float);
  add_unary(
      cases, "exp", exp, [](double x) { return std::exp(x); }, Kind::Float);
  add_unary(
      cases, "log", log, [](double x) { return std::log(x); }, Kind::Positive);
  add_unary(
      cases, "sqrt", sqrt, [](double x) { return std::sqrt(x); }, Kind::Positive);
  add_unary(
      cases, "rsqrt", rsqrt, [](double x) { return 1 / std::sqrt(x); }, Kind::Positive);
  add_unary(
      cases, "tanh", tanh, [](double x) { return std::tanh(x); }, Kind::Float);
  add_unary(
      cases, "erf", erf, [](double x) { return std::erf(x); }, Kind::Float);
  add_unary(
      cases, "abs", abs, [](double x) { return std::abs(x); }, Kind::Spread);
  add_unary(
      cases, "relu", relu, [](double x) { return x > 0 ? x : 0.0; }, Kind::Spread);
  add_unary(
      cases, "gelu", [](const Tensor& x) { return gelu(x); }, gelu_exact, Kind::Float);
  add_unary(
      cases, "gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, gelu_tanh_ref,
      Kind::Float);
  add_unary(
      cases, "silu", silu, [](double x) { return x / (1 + std::exp(-x)); }, Kind::Float);
  add_unary(
      cases, "sigmoid", sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, Kind::Float);
}

}  // namespace
}  // namespace kiln::testing
