// Inverted dropout: y = x * keep / (1 - p), keep[i] = Generator::uniform_at(seed, start + i) >= p,
// where i is the element's logical row-major index and start = gen.reserve(numel) is taken once
// per call. The mask is therefore a pure function of (seed, start, i): identical for any thread
// count or chunking, and a later call sees fresh counters. The kernel evaluates one Philox block
// per 4 consecutive counters (exactly the words uniform_at would return) and writes y and a u8
// keep mask in the same pass; the backward is g * keep / (1 - p) from that saved mask (1 byte per
// element rather than the input). Not training, or p == 0, returns the input itself (no copy, no
// generator draw); p == 1 drops everything (y = 0, gradient 0).
#include <algorithm>
#include <array>
#include <cmath>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/ops/dropout_keep.h"
#include "core/rng.h"
#include "core/thread_pool.h"

namespace kiln {

KILN_OP(kDropoutOp, "dropout", true);

namespace {

constexpr int64_t kGrain = 16384;  // elements per task (a multiple of 4: whole Philox blocks)

template <typename T>
void dropout_kernel(const T* x, T* y, uint8_t* mask, int64_t n, uint64_t seed, uint64_t start,
                    float p, T scale) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for_each_dropout_keep(seed, start + static_cast<uint64_t>(b), e - b, p,
                          [&](int64_t i, bool keep) {
                            mask[b + i] = keep;
                            y[b + i] = keep ? x[b + i] * scale : T(0);
                          });
  });
}

template <typename T>
void dropout_backward_kernel(const T* g, const uint8_t* mask, T* dx, int64_t n, T scale) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = mask[i] ? g[i] * scale : T(0);
  });
}

}  // namespace

Tensor dropout(const Tensor& a, double p, bool training, Generator& gen) {
  KILN_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return a;
  const int64_t n = a.numel();
  const uint64_t seed = gen.seed();
  const uint64_t start = gen.reserve(static_cast<uint64_t>(n));
  const double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
  Tensor x;
  {
    NoGradGuard ng;
    x = a.detach().contiguous();
  }
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  Tensor mask = Tensor::empty(a.shape(), DType::U8);
  dispatch_floating(a.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    uint8_t* mp = mask.data<uint8_t>();
    const T sc = static_cast<T>(scale);
    if (static_cast<double>(static_cast<float>(p)) == p) {
      dropout_kernel<T>(xp, yp, mp, n, seed, start, static_cast<float>(p), sc);
    } else {
      // u is a float, so u >= p (in double) iff u >= the smallest float >= p.
      float pf = static_cast<float>(p);
      if (static_cast<double>(pf) < p) pf = std::nextafter(pf, 2.0f);
      dropout_kernel<T>(xp, yp, mp, n, seed, start, pf, sc);
    }
  });
  if (!needs_grad({&a})) return out;
  return record(kDropoutOp, out, {a}, {&mask},
                [mask, scale](const Tensor& grad) -> std::vector<Tensor> {
                  Tensor g = grad.contiguous();
                  Tensor dx = Tensor::empty(g.shape(), g.dtype());
                  dispatch_floating(g.dtype(), "dropout_backward", [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    if (dx.numel() == 0) return;
                    dropout_backward_kernel<T>(g.data<T>(), mask.data<uint8_t>(), dx.data<T>(),
                                               dx.numel(), static_cast<T>(scale));
                  });
                  return {dx};
                });
}

}  // namespace kiln
