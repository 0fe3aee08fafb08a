// Broadcasting binary arithmetic, pow, where and masked_fill. Backward of a broadcast operand sums
// the gradient back down to the operand's shape (sum_to).
#include <cmath>

#include "core/autograd.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/ops/map.h"

namespace kiln {

KILN_OP(kAddOp, "add", true);
KILN_OP(kSubOp, "sub", true);
KILN_OP(kMulOp, "mul", true);
KILN_OP(kDivOp, "div", true);
KILN_OP(kMaximumOp, "maximum", true);
KILN_OP(kPowOp, "pow", true);
KILN_OP(kWhereOp, "where", true);
KILN_OP(kMaskedFillOp, "masked_fill", true);

using detail::map1;
using detail::map2;
using detail::map3;

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = map2("add", a, b, [](auto x, auto y) { return x + y; });
  // Only the wanted gradients: a constant or buffer operand (an attention mask, BART's
  // final_logits_bias) would otherwise cost a reduction of g over every broadcast dimension, 7% of
  // a summarization training step for that bias alone.
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kAddOp, out, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {ga ? sum_to(g, sa) : Tensor(), gb ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = map2("sub", a, b, [](auto x, auto y) { return x - y; });
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kSubOp, out, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {ga ? sum_to(g, sa) : Tensor(), gb ? sum_to(neg(g), sb) : Tensor()};
  });
}

// mul's element function, shared with mul_ so that the two give the same bits.
constexpr auto kMulElem = [](auto x, auto y) { return x * y; };

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = map2("mul", a, b, kMulElem);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor ad = gb ? a.detach() : Tensor(), bd = ga ? b.detach() : Tensor();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kMulOp, out, {a, b}, {&ad, &bd}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {ga ? sum_to(mul(g, bd), sa) : Tensor(), gb ? sum_to(mul(g, ad), sb) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = map2("div", a, b, [](auto x, auto y) { return x / y; });
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor ad = gb ? a.detach() : Tensor(), bd = b.detach();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kDivOp, out, {a, b}, {&ad, &bd}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor grad_b;
    if (gb)
      grad_b = sum_to(map3("div_backward", g, ad, bd,
                           [](auto gg, auto x, auto y) { return -gg * x / (y * y); }),
                      sb);
    return {ga ? sum_to(div(g, bd), sa) : Tensor(), grad_b};
  });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = map2("maximum", a, b, [](auto x, auto y) { return x >= y ? x : y; });
  Tensor ad = a.detach(), bd = b.detach();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kMaximumOp, out, {a, b}, {&ad, &bd}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor to_a, to_b;
    if (ga)
      to_a = sum_to(map3("maximum_backward", g, ad, bd,
                         [](auto gg, auto x, auto y) { return x >= y ? gg : decltype(gg)(0); }),
                    sa);
    if (gb)
      to_b = sum_to(map3("maximum_backward", g, ad, bd,
                         [](auto gg, auto x, auto y) { return x >= y ? decltype(gg)(0) : gg; }),
                    sb);
    return {to_a, to_b};
  });
}

Tensor add(const Tensor& a, double s) {
  return add(a, Tensor::scalar(s, a.dtype()));
}
Tensor mul(const Tensor& a, double s) {
  return mul(a, Tensor::scalar(s, a.dtype()));
}

void mul_(const Tensor& dst, double s) {
  begin_in_place_write(dst, "mul_");
  const Tensor scalar = Tensor::scalar(s, dst.dtype());
  detail::map_n_into<2>("mul_", dst, {&dst, &scalar}, kMulElem);
}

Tensor pow(const Tensor& a, double e) {
  Tensor out = map1("pow", a, [e](auto x) { return static_cast<decltype(x)>(std::pow(x, e)); });
  Tensor ad = a.detach();
  return record(kPowOp, out, {a}, {&ad}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {map2("pow_backward", g, ad, [e](auto gg, auto x) {
      return static_cast<decltype(x)>(gg * e * std::pow(x, e - 1));
    })};
  });
}

namespace {

// out = cond ? a : b with all three broadcast; cond is any integer dtype (non-zero = true).
Tensor where_kernel(const Tensor& cond, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.dtype() == b.dtype(), "where: dtype mismatch, ", a.describe(), " vs ", b.describe());
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_floating(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(cond.dtype(), "where (condition)", [&](auto ctag) {
      using C = typename decltype(ctag)::type;
      auto view = make_strided_view<4>(
          shape,
          {static_cast<char*>(out.raw_data()), static_cast<char*>(cond.raw_data()),
           static_cast<char*>(a.raw_data()), static_cast<char*>(b.raw_data())},
          {out.strides(), broadcast_strides(cond, shape), broadcast_strides(a, shape),
           broadcast_strides(b, shape)},
          {sizeof(T), sizeof(C), sizeof(T), sizeof(T)});
      for_each_run(view, [&](std::array<char*, 4> p, std::array<int64_t, 4> st, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const bool c = *reinterpret_cast<const C*>(p[1] + i * st[1]) != 0;
          *reinterpret_cast<T*>(p[0] + i * st[0]) =
              *reinterpret_cast<const T*>(p[c ? 2 : 3] + i * st[c ? 2 : 3]);
        }
      });
    });
  });
  return out;
}

}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = where_kernel(cond, a, b);
  Tensor c = cond.detach();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Shape sa = a.shape(), sb = b.shape();
  return record(kWhereOp, out, {a, b}, {&c}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor zero = Tensor::scalar(0.0, g.dtype());
    return {ga ? sum_to(where_kernel(c, g, zero), sa) : Tensor(),
            gb ? sum_to(where_kernel(c, zero, g), sb) : Tensor()};
  });
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  Tensor out = where_kernel(mask, Tensor::scalar(value, a.dtype()), a);
  if (out.shape() != a.shape())
    throw Error("masked_fill: mask " + mask.describe() + " must broadcast to " + a.describe());
  Tensor m = mask.detach();
  return record(kMaskedFillOp, out, {a}, {&m}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {where_kernel(m, Tensor::scalar(0.0, g.dtype()), g)};
  });
}

}  // namespace kiln
