// In-place writes versus autograd: every storage counts its in-place writes, ops remember the count
// of each tensor they save for backward, and backward refuses to use a saved tensor written since
// (it would silently compute a wrong gradient). Writes to tensors nobody saved, or made before the
// op ran, stay legal. The op harness (op_harness.cpp) checks the same property for every op case.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"

namespace kiln {
namespace {

Tensor param(std::vector<double> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s, DType::F64);
  t.set_requires_grad(true);
  return t;
}

Tensor constant(std::vector<double> v, Shape s) {
  return Tensor::from_vector(v, s, DType::F64);
}

// Runs fn, which must throw kiln::Error, and returns the message ("" if it did not throw).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Writer {
  const char* name;
  std::function<void(const Tensor&)> write;
};

const Writer kWriters[] = {
    {"copy_", [](const Tensor& t) { copy_(t, Tensor::scalar(5.0, t.dtype())); }},
    {"fill_", [](const Tensor& t) { fill_(t, 5.0); }},
    {"mul_", [](const Tensor& t) { mul_(t, 5.0); }},
};

TEST(InPlaceVersion, EveryInPlaceOpBumpsTheStorageVersionOnce) {
  Tensor t = constant({1, 2, 3, 4}, {2, 2});
  const auto& storage = t.storage();
  EXPECT_EQ(storage->version(), 0u);
  copy_(t, constant({4, 3, 2, 1}, {2, 2}));
  EXPECT_EQ(storage->version(), 1u);
  fill_(t, 0.0);
  EXPECT_EQ(storage->version(), 2u);
  mul_(t, 2.0);
  EXPECT_EQ(storage->version(), 3u);
  Generator gen(1);
  fill_randn_(t, gen, 1.0);
  EXPECT_EQ(storage->version(), 4u);
  begin_in_place_write(t, "a raw-pointer kernel");
  EXPECT_EQ(storage->version(), 5u);
  // Reading, viewing and out-of-place ops are not writes.
  Tensor v = t.select(0, 1);
  (void)add(t, v).to_vector();
  (void)t.detach().to_vector();
  EXPECT_EQ(storage->version(), 5u);
}

TEST(InPlaceVersion, ViewsShareTheCounterAndClonesDoNot) {
  Tensor base = constant({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = base.select(0, 1);
  Tensor col = base.transpose(0, 1).slice(0, 1, 2);
  fill_(row, 0.0);
  EXPECT_EQ(base.storage()->version(), 1u);
  EXPECT_EQ(col.storage()->version(), 1u);
  Tensor copy = base.clone();
  const uint64_t copy_version = copy.storage()->version();
  mul_(copy, 2.0);
  EXPECT_EQ(copy.storage()->version(), copy_version + 1);
  EXPECT_EQ(base.storage()->version(), 1u);
  fill_(base, 1.0);
  EXPECT_EQ(copy.storage()->version(), copy_version + 1);
}

TEST(InPlaceVersion, WritingASavedInputOfMulThrowsNamingMul) {
  for (const Writer& w : kWriters) {
    SCOPED_TRACE(w.name);
    Tensor x = param({1, 2}, {2});
    Tensor c = constant({3, 4}, {2});  // saved: d/dx of x * c reads c
    Tensor y = sum(mul(x, c));
    w.write(c);
    const std::string msg = error_of([&] { y.backward(); });
    EXPECT_NE(msg.find("saved by 'mul'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("modified in place (version 1, saved at version 0)"), std::string::npos)
        << msg;
    EXPECT_FALSE(x.grad().defined());
  }
}

TEST(InPlaceVersion, WritingASavedOutputThrowsNamingTheOp) {
  // exp and tanh compute their derivative from the output they saved.
  for (auto [name, fn] : {std::pair<std::string, Tensor (*)(const Tensor&)>{"exp", exp},
                          std::pair<std::string, Tensor (*)(const Tensor&)>{"tanh", tanh}}) {
    SCOPED_TRACE(name);
    Tensor x = param({0.5, -0.25}, {2});
    Tensor y = fn(x);
    Tensor loss = sum(mul(y, 2.0));
    fill_(y.detach(), 1.0);  // a detached handle shares the storage, and so the counter
    const std::string msg = error_of([&] { loss.backward(); });
    EXPECT_NE(msg.find("saved by '" + name + "'"), std::string::npos) << msg;
  }
}

TEST(InPlaceVersion, WritingUnderNoGradIsStillCaught) {
  // As an optimizer step between forward and backward would: the weight was saved by matmul.
  Tensor w = param({1, 2, 3, 4}, {2, 2});
  Tensor x = param({1, 1}, {1, 2});
  Tensor y = sum(matmul(x, w));
  {
    NoGradGuard ng;
    mul_(w, 0.5);
  }
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("saved by 'matmul'"), std::string::npos) << msg;
}

TEST(InPlaceVersion, WritingThroughAViewOfASavedTensorIsCaught) {
  Tensor x = param({1, 2, 3}, {3});
  Tensor c = constant({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = sum(mul(x, c.select(0, 0)));  // saves a view of c's first row
  // Another view of the same storage. The counter is per storage (as PyTorch's is per base), so
  // even a write to elements the saved view does not cover counts.
  fill_(c.select(0, 1), 0.0);
  EXPECT_NE(error_of([&] { y.backward(); }).find("saved by 'mul'"), std::string::npos);
}

TEST(InPlaceVersion, WritingTheBaseOfASavedViewIsCaught) {
  Tensor x = param({1, 2}, {2});
  Tensor c = constant({1, 2, 3, 4}, {2, 2});
  Tensor y = sum(mul(x, c.select(0, 1)));
  mul_(c, 3.0);
  EXPECT_NE(error_of([&] { y.backward(); }).find("saved by 'mul'"), std::string::npos);
}

TEST(InPlaceVersion, SavedIndexAndMaskTensorsAreCheckedToo) {
  Tensor x = param({1, 2, 3}, {3});
  Tensor mask = Tensor::from_ints({1, 0, 1}, {3}, DType::U8);
  Tensor y = sum(masked_fill(x, mask, 0.0));
  fill_(mask, 0.0);
  EXPECT_NE(error_of([&] { y.backward(); }).find("saved by 'masked_fill'"), std::string::npos);
}

TEST(InPlaceVersion, WritingATensorNoOpSavedIsAllowed) {
  // add saves nothing, and mul saves x only when the other factor needs a gradient.
  Tensor x = param({1, 2}, {2});
  Tensor c = constant({3, 4}, {2});
  Tensor d = constant({5, 6}, {2});
  Tensor y = sum(add(mul(x, c), d));
  fill_(d, -1.0);
  {
    NoGradGuard ng;
    fill_(x, 100.0);  // x is an input of mul, but c does not require grad: x was not saved
  }
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4}));
}

TEST(InPlaceVersion, WritingBeforeTheOpRunsIsAllowed) {
  Tensor x = param({1, 2}, {2});
  Tensor c = constant({3, 4}, {2});
  fill_(c, 7.0);
  mul_(c, 2.0);
  Tensor y = sum(mul(x, c));  // saves c at version 2
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{14, 14}));
}

TEST(InPlaceVersion, WritingAfterBackwardIsAllowedAndARetainedGraphRechecks) {
  Tensor x = param({1, 2}, {2});
  Tensor c = constant({3, 4}, {2});
  Tensor y = sum(mul(x, c));
  y.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4}));
  fill_(c, 0.0);  // legal: nothing is pending
  // ...but a second pass through the retained graph would read the new values.
  EXPECT_NE(error_of([&] { y.backward(); }).find("saved by 'mul'"), std::string::npos);
}

TEST(InPlaceVersion, ATrainingStepShapedLoopNeverTrips) {
  // forward, backward, optimizer-style update under no-grad, repeated: each write happens after
  // the backward that needed the old values, so no step may throw.
  Tensor w = param({0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, {3, 2});
  Tensor b = param({0.0, 0.1, -0.1}, {3});
  Tensor x = constant({1, 2, -1, 0.5}, {2, 2});
  Tensor targets = Tensor::from_ints({0, 2}, {2});
  for (int step = 0; step < 3; ++step) {
    for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation
      Tensor h = tanh(linear(x, w, b));
      Tensor loss = cross_entropy(softmax(h, -1), targets);
      ASSERT_NO_THROW(loss.backward());
    }
    NoGradGuard ng;
    for (Tensor* p : {&w, &b}) {
      begin_in_place_write(*p, "test optimizer");
      copy_(*p, sub(*p, mul(p->grad(), 0.1)));
      p->zero_grad();
    }
  }
  EXPECT_GE(w.storage()->version(), 6u);
}

}  // namespace
}  // namespace kiln
