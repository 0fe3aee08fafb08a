#include "tests/core/op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/op_registry.h"

namespace kiln::testing {

std::vector<OpCase>& op_cases() {
  static std::vector<OpCase> cases;
  return cases;
}

int64_t Ref::offset(const std::vector<int64_t>& idx) const {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return off;
}

double Ref::at_broadcast(const std::vector<int64_t>& out_idx) const {
  const size_t lead = out_idx.size() - shape.size();
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t i = shape[d] == 1 ? 0 : out_idx[lead + d];
    off = off * shape[d] + i;
  }
  return v[off];
}

void for_each_index(const Shape& shape,
                    const std::function<void(const std::vector<int64_t>&)>& fn) {
  for (int64_t d : shape)
    if (d == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  for (;;) {
    fn(idx);
    int64_t d = static_cast<int64_t>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

namespace {

// Names that are public API functions composed of registered ops (cases for them are welcome but
// they have no OpInfo of their own).
const std::set<std::string> kComposite = {"split", "chunk", "transpose", "contiguous"};

std::vector<double> draw_values(const InputSpec& s, Generator& gen) {
  const int64_t n = shape_numel(s.shape);
  std::vector<double> v(n);
  switch (s.kind) {
    case Kind::Float:
      for (auto& x : v) x = -2.0 + 4.0 * gen.uniform();
      break;
    case Kind::Positive:
      for (auto& x : v) x = 0.5 + 1.5 * gen.uniform();
      break;
    case Kind::Unit:
      for (auto& x : v) x = -0.9 + 1.8 * gen.uniform();
      break;
    case Kind::Spread: {
      // A shuffled ladder: distinct, gaps of 0.05, none near zero; a random shift per input keeps
      // two Spread inputs from sharing values (ties are kinks for max/maximum).
      std::vector<double> ladder(n);
      const double shift = 0.04 * gen.uniform();
      for (int64_t i = 0; i < n; ++i) {
        const double m = 0.1 + shift + 0.05 * static_cast<double>(i);
        ladder[i] = (i % 2 == 0) ? m : -m;
      }
      for (int64_t i = n - 1; i > 0; --i) {
        const int64_t j = static_cast<int64_t>(gen.uniform() * static_cast<double>(i + 1));
        std::swap(ladder[i], ladder[std::min(j, i)]);
      }
      v = ladder;
      break;
    }
    case Kind::Index:
      for (auto& x : v) x = std::floor(gen.uniform() * static_cast<double>(s.hi));
      break;
    case Kind::Mask:
      for (auto& x : v) x = gen.uniform() < 0.5 ? 0.0 : 1.0;
      break;
  }
  return v;
}

bool is_float_kind(Kind k) {
  return k != Kind::Index && k != Kind::Mask;
}

// A leaf holding `values`, and the view of it handed to the op. In the strided layout the leaf
// has its last dimension doubled and the view takes every other element, so the op sees a
// non-contiguous tensor with the same logical values.
struct Input {
  Tensor leaf, view;
};

Input make_input(const InputSpec& s, const std::vector<double>& values, DType float_dt,
                 bool strided, bool requires_grad) {
  const DType dt = is_float_kind(s.kind) ? float_dt : s.int_dtype;
  Input in;
  if (!strided || s.shape.empty()) {
    in.leaf = Tensor::from_vector(values, s.shape, dt);
    if (requires_grad) in.leaf.set_requires_grad(true);
    in.view = in.leaf;
    return in;
  }
  Shape big = s.shape;
  big.back() *= 2;
  std::vector<double> bv(shape_numel(big), 12345.0);  // poison: must never be read
  const int64_t last = s.shape.back();
  for (int64_t i = 0; i < static_cast<int64_t>(values.size()); ++i) {
    const int64_t row = last ? i / last : 0, col = last ? i % last : 0;
    bv[row * 2 * last + 2 * col] = values[i];
  }
  in.leaf = Tensor::from_vector(bv, big, dt);
  if (requires_grad) in.leaf.set_requires_grad(true);
  in.view = slice(in.leaf, -1, 0, 2 * last, 2);
  return in;
}

std::string fmt_idx(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return shape_str(idx);
}

struct Drawn {
  std::vector<std::vector<double>> values;
  std::vector<Ref> refs;
};

Drawn draw_inputs(const OpCase& c, uint64_t seed) {
  Generator gen(seed);
  Drawn d;
  for (const auto& s : c.inputs) {
    d.values.push_back(draw_values(s, gen));
    d.refs.push_back({s.shape, d.values.back()});
  }
  return d;
}

std::vector<Tensor> run_forward(const OpCase& c, const Drawn& d, DType dt, bool strided,
                                bool with_grad, std::vector<Input>* keep = nullptr) {
  std::vector<Input> ins;
  std::vector<Tensor> views;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const bool g = with_grad && c.inputs[i].grad && is_float_kind(c.inputs[i].kind);
    ins.push_back(make_input(c.inputs[i], d.values[i], dt, strided, g));
    views.push_back(ins.back().view);
  }
  Tensor out = c.run(views);
  if (keep) *keep = ins;
  return {out};
}

void check_forward(const OpCase& c, const Drawn& d, const Ref& ref, DType dt, bool strided) {
  const std::string where =
      c.op + " [" + c.name + "] " + dtype_name(dt) + (strided ? " strided" : " contiguous");
  Tensor out;
  {
    NoGradGuard ng;
    out = run_forward(c, d, dt, strided, false)[0];
  }
  ASSERT_EQ(out.shape(), ref.shape) << where << ": output shape";
  if (c.integer_output) {
    auto got = out.to_vector();
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], ref.v[i]) << where << " at " << fmt_idx(i, ref.shape);
    return;
  }
  ASSERT_EQ(out.dtype(), dt) << where << ": output dtype";
  const double atol = dt == DType::F64 ? 1e-10 : c.f32_atol;
  const double rtol = dt == DType::F64 ? 1e-9 : c.f32_rtol;
  auto got = out.to_vector();
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = ref.v[i];
    if (std::isnan(r)) {
      ASSERT_TRUE(std::isnan(got[i])) << where << " at " << fmt_idx(i, ref.shape);
      continue;
    }
    ASSERT_NEAR(got[i], r, atol + rtol * std::abs(r)) << where << " at " << fmt_idx(i, ref.shape);
  }
}

void check_backward(const OpCase& c, const Drawn& d, bool strided) {
  const std::string where =
      c.op + " [" + c.name + "] f64 backward" + (strided ? " strided" : " contiguous");
  std::vector<Input> ins;
  Tensor out = run_forward(c, d, DType::F64, strided, true, &ins)[0];
  if (out.numel() == 0 || !out.requires_grad()) {
    // Nothing flows (empty output, or no input needs grad): every leaf grad must be absent or 0.
    return;
  }
  Generator gen(777);
  std::vector<double> w(out.numel());
  for (auto& x : w) x = -1.0 + 2.0 * gen.uniform();
  out.backward(Tensor::from_vector(w, out.shape(), DType::F64));

  auto loss_at = [&](size_t input, int64_t flat, double delta) {
    Drawn dd = d;
    dd.values[input][flat] += delta;
    NoGradGuard ng;
    Tensor o = run_forward(c, dd, DType::F64, strided, false)[0];
    auto ov = o.to_vector();
    double l = 0;
    for (size_t i = 0; i < ov.size(); ++i) l += ov[i] * w[i];
    return l;
  };

  for (size_t k = 0; k < c.inputs.size(); ++k) {
    const auto& s = c.inputs[k];
    if (!s.grad || !is_float_kind(s.kind)) continue;
    Tensor g = ins[k].leaf.grad();
    const int64_t n = shape_numel(s.shape);
    std::vector<double> analytic(n, 0.0);
    if (g.defined()) {
      ASSERT_EQ(g.shape(), ins[k].leaf.shape()) << where << ": grad shape of input " << k;
      Tensor gv = strided && !s.shape.empty() ? slice(g, -1, 0, 2 * s.shape.back(), 2) : g;
      analytic = gv.to_vector();
      if (strided && !s.shape.empty()) {
        // The skipped (poison) positions must get exactly zero gradient.
        Tensor gskip = slice(g, -1, 1, 2 * s.shape.back(), 2);
        for (double x : gskip.to_vector()) ASSERT_EQ(x, 0.0) << where << ": gradient leaked";
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const double h = 1e-6 * std::max(1.0, std::abs(d.values[k][i]));
      const double fd = (loss_at(k, i, h) - loss_at(k, i, -h)) / (2 * h);
      ASSERT_NEAR(analytic[i], fd, c.fd_atol + c.fd_rtol * std::abs(fd))
          << where << ": d/d input " << k << " at " << fmt_idx(i, s.shape);
    }
  }
}

// The gradients of every input marked `grad`, as text so that NaN compares equal to NaN.
std::vector<std::string> leaf_grads(const OpCase& c, const std::vector<Input>& ins) {
  std::vector<std::string> out;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    if (!c.inputs[k].grad || !is_float_kind(c.inputs[k].kind)) continue;
    std::ostringstream os;
    os.precision(17);
    Tensor g = ins[k].leaf.grad();
    if (g.defined())
      for (double x : g.to_vector()) os << x << ' ';
    out.push_back(os.str());
  }
  return out;
}

// Between forward and backward, writes in place into one input (through the view the op saw) or
// the output, and requires backward to either refuse (the op saved that tensor) or give exactly
// the gradients it gives without the write. Catches an op whose backward reads a tensor it did
// not list as saved in record(), which would otherwise compute gradients from the new values.
void check_in_place_write_is_caught(const OpCase& c, const Drawn& d, bool strided) {
  std::vector<Input> ins;
  Tensor out = run_forward(c, d, DType::F64, strided, true, &ins)[0];
  if (out.numel() == 0 || !out.requires_grad()) return;
  Generator gen(777);
  std::vector<double> w(out.numel());
  for (auto& x : w) x = -1.0 + 2.0 * gen.uniform();
  const Tensor cotangent = Tensor::from_vector(w, out.shape(), DType::F64);
  out.backward(cotangent);
  const std::vector<std::string> expected = leaf_grads(c, ins);

  for (size_t target = 0; target <= c.inputs.size(); ++target) {
    const bool is_output = target == c.inputs.size();
    const std::string where = c.op + " [" + c.name + "]" + (strided ? " strided" : "") +
                              ": in-place write to " +
                              (is_output ? "the output" : "input " + std::to_string(target));
    Tensor o = run_forward(c, d, DType::F64, strided, true, &ins)[0];
    const Tensor written = is_output ? o : ins[target].view;
    if (written.numel() == 0) continue;
    {
      NoGradGuard ng;
      if (is_floating(written.dtype()))
        mul_(written, 1.5);  // keeps the sign, so inputs stay valid (Positive stays positive)
      else
        fill_(written, 0.0);  // index 0 and mask 0 are always valid
    }
    try {
      o.backward(cotangent);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos)
          << where << ": backward failed for another reason: " << e.what();
      continue;
    }
    EXPECT_EQ(leaf_grads(c, ins), expected)
        << where << " changed the gradients without an error: the op's backward reads a tensor it "
        << "does not list as saved in record()";
  }
}

uint64_t case_seed(const OpCase& c) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : c.op + "/" + c.name) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  return h;
}

}  // namespace

class OpHarness : public ::testing::TestWithParam<size_t> {};

TEST_P(OpHarness, ForwardMatchesReferenceBackwardMatchesFiniteDifferencesAndSeesInPlaceWrites) {
  const OpCase& c = op_cases()[GetParam()];
  SCOPED_TRACE(c.op + " [" + c.name + "]");
  const Drawn d = draw_inputs(c, case_seed(c));
  const Ref ref = c.reference(d.refs);
  for (bool strided : {false, true}) {
    for (DType dt : {DType::F32, DType::F64}) {
      check_forward(c, d, ref, dt, strided);
      if (HasFatalFailure()) return;
    }
    if (c.check_backward) {
      check_backward(c, d, strided);
      if (HasFatalFailure()) return;
      check_in_place_write_is_caught(c, d, strided);
    }
  }
}

std::string case_label(const ::testing::TestParamInfo<size_t>& info) {
  const OpCase& c = op_cases()[info.param];
  std::string s = c.op + "_" + c.name;
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s + "_" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpHarness, ::testing::Range<size_t>(0, op_cases().size()),
                         case_label);

TEST(OpHarnessCoverage, EveryRegisteredOpHasACase) {
  std::set<std::string> covered;
  for (const auto& c : op_cases()) covered.insert(c.op);
  for (const OpInfo* op : OpRegistry::all())
    EXPECT_TRUE(covered.count(op->name)) << "op '" << op->name << "' has no case in the op harness";
  for (const auto& name : covered)
    EXPECT_TRUE(OpRegistry::find(name) || kComposite.count(name))
        << "harness case names unknown op '" << name << "'";
  EXPECT_GE(OpRegistry::all().size(), 30u);
}

TEST(OpHarnessCoverage, EveryDifferentiableOpChecksBackwardSomewhere) {
  std::set<std::string> with_backward;
  for (const auto& c : op_cases())
    if (c.check_backward) with_backward.insert(c.op);
  for (const OpInfo* op : OpRegistry::all())
    if (op->differentiable) {
      EXPECT_TRUE(with_backward.count(op->name)) << "op '" << op->name << "' never checks backward";
    }
}

}  // namespace kiln::testing
