// Element-wise unary maths and activations. Each backward is one fused pass computing
// g * f'(x) (or from the saved output y where that is cheaper and exact).
#include <cmath>

#include "core/autograd.h"
#include "core/kernels/bn_relu_rows.h"
#include "core/kernels/elementwise_gelu.h"
#include "core/kernels/elementwise_relu.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/ops/map.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kNegOp, "neg", true);
KILN_OP(kExpOp, "exp", true);
KILN_OP(kLogOp, "log", true);
KILN_OP(kSqrtOp, "sqrt", true);
KILN_OP(kRsqrtOp, "rsqrt", true);
KILN_OP(kTanhOp, "tanh", true);
KILN_OP(kErfOp, "erf", true);
KILN_OP(kAbsOp, "abs", true);
KILN_OP(kReluOp, "relu", true);
KILN_OP(kGeluOp, "gelu", true);
KILN_OP(kGeluTanhOp, "gelu_tanh", true);
KILN_OP(kSiluOp, "silu", true);
KILN_OP(kSigmoidOp, "sigmoid", true);

using detail::map1;
using detail::map2;

namespace {

// Records a unary op whose backward is g * dfdx(x, y), evaluated in one fused pass.
template <typename Fwd, typename Deriv>
Tensor unary(const OpInfo& op, const Tensor& a, Fwd fwd, Deriv deriv) {
  Tensor out = map1(op.name, a, fwd);
  if (!needs_grad({&a})) return out;
  Tensor x = a.detach(), y = out.detach();
  return record(op, out, {a}, {&x, &y}, [=](const Tensor& g) -> std::vector<Tensor> {
    // Broadcast-free: g, x and y share one shape. x and y are passed as a pair via map of 3.
    return {detail::map3("unary_backward", g, x, y,
                         [&](auto gg, auto xx, auto yy) { return gg * deriv(xx, yy); })};
  });
}

// An f32 unary op on contiguous-array kernels: fwd(x, out, n) forward, and a backward that is one
// fused pass bwd(g, x, dx, n) from the saved input, like unary()'s. Used where the generic map
// loops do not vectorise (GELU's erf is a libm call; ReLU's comparison compiled to a branch that
// mispredicts on half the elements).
using ArrayKernel = void (*)(const float*, float*, int64_t);
using ArrayBackwardKernel = void (*)(const float*, const float*, float*, int64_t);

Tensor unary_f32(const OpInfo& op, const Tensor& a, ArrayKernel fwd, ArrayBackwardKernel bwd) {
  Tensor x;
  {
    NoGradGuard ng;
    x = a.contiguous();
  }
  Tensor out = Tensor::empty(a.shape(), DType::F32);
  const float* xp = x.data<float>();
  float* op_out = out.data<float>();
  parallel_for(0, a.numel(), 32768, [&](int64_t b, int64_t e) { fwd(xp + b, op_out + b, e - b); });
  if (!needs_grad({&a})) return out;
  Tensor xd = x.detach();
  return record(op, out, {a}, {&xd}, [xd, bwd](const Tensor& g) -> std::vector<Tensor> {
    Tensor gc;
    {
      NoGradGuard ng;
      gc = g.contiguous();
    }
    Tensor dx = Tensor::empty(xd.shape(), DType::F32);
    const float *gp = gc.data<float>(), *xp2 = xd.data<float>();
    float* dp = dx.data<float>();
    parallel_for(0, xd.numel(), 32768,
                 [&](int64_t b, int64_t e) { bwd(gp + b, xp2 + b, dp + b, e - b); });
    return {dx};
  });
}

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2*pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;

}  // namespace

Tensor neg(const Tensor& a) {
  Tensor out = map1("neg", a, [](auto x) { return -x; });
  return record(kNegOp, out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
}

Tensor exp(const Tensor& a) {
  return unary(
      kExpOp, a, [](auto x) { return std::exp(x); }, [](auto, auto y) { return y; });
}

Tensor log(const Tensor& a) {
  return unary(
      kLogOp, a, [](auto x) { return std::log(x); },
      [](auto x, auto) { return decltype(x)(1) / x; });
}

Tensor sqrt(const Tensor& a) {
  return unary(
      kSqrtOp, a, [](auto x) { return std::sqrt(x); },
      [](auto, auto y) { return decltype(y)(0.5) / y; });
}

Tensor rsqrt(const Tensor& a) {
  return unary(
      kRsqrtOp, a, [](auto x) { return decltype(x)(1) / std::sqrt(x); },
      [](auto, auto y) { return decltype(y)(-0.5) * y * y * y; });
}

Tensor tanh(const Tensor& a) {
  return unary(
      kTanhOp, a, [](auto x) { return std::tanh(x); },
      [](auto, auto y) { return decltype(y)(1) - y * y; });
}

Tensor erf(const Tensor& a) {
  return unary(
      kErfOp, a, [](auto x) { return std::erf(x); },
      [](auto x, auto) { return static_cast<decltype(x)>(kTwoOverSqrtPi) * std::exp(-x * x); });
}

Tensor abs(const Tensor& a) {
  return unary(
      kAbsOp, a, [](auto x) { return std::abs(x); },
      [](auto x, auto) {
        using T = decltype(x);
        return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
      });
}

Tensor relu(const Tensor& a) {
  if (a.dtype() == DType::F32)
    return unary_f32(kReluOp, a, kernels::relu_f32, kernels::relu_backward_f32);
  return unary(
      kReluOp, a, [](auto x) { return x > decltype(x)(0) ? x : decltype(x)(0); },
      [](auto x, auto) { return x > decltype(x)(0) ? decltype(x)(1) : decltype(x)(0); });
}

Tensor gelu(const Tensor& a, GeluApprox approx) {
  // f32 takes the vectorised kernels; f64 keeps libm's erf as the reference precision.
  if (approx == GeluApprox::None && a.dtype() == DType::F32)
    return unary_f32(kGeluOp, a, kernels::gelu_f32, kernels::gelu_backward_f32);
  if (approx == GeluApprox::None) {
    // x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2; d/dx = Phi(x) + x * phi(x).
    return unary(
        kGeluOp, a,
        [](auto x) {
          using T = decltype(x);
          return T(0.5) * x * (T(1) + std::erf(x / T(kSqrt2)));
        },
        [](auto x, auto) {
          using T = decltype(x);
          const T cdf = T(0.5) * (T(1) + std::erf(x / T(kSqrt2)));
          return cdf + x * T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
        });
  }
  // 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
  return unary(
      kGeluTanhOp, a,
      [](auto x) {
        using T = decltype(x);
        const T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
        return T(0.5) * x * (T(1) + std::tanh(u));
      },
      [](auto x, auto) {
        using T = decltype(x);
        const T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
        const T t = std::tanh(u);
        const T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
        return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
      });
}

Tensor silu(const Tensor& a) {
  return unary(
      kSiluOp, a,
      [](auto x) {
        using T = decltype(x);
        return x / (T(1) + std::exp(-x));
      },
      [](auto x, auto) {
        using T = decltype(x);
        const T s = T(1) / (T(1) + std::exp(-x));
        return s * (T(1) + x * (T(1) - s));
      });
}

Tensor sigmoid(const Tensor& a) {
  return unary(
      kSigmoidOp, a,
      [](auto x) {
        using T = decltype(x);
        return T(1) / (T(1) + std::exp(-x));
      },
      [](auto, auto y) { return y * (decltype(y)(1) - y); });
}

}  // namespace kiln
