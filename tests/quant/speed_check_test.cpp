// The never-slower speed check (quant/speed_check.h) with a scripted timer: which decisions go
// back to float, that ties keep the quantized format, that each distinct shape is timed once,
// and which formats each scope touches; and the real shape timer on a tiny shape.
#include "quant/speed_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>

#include "core/error.h"

namespace kiln::quant {
namespace {

TensorDecision linear(const std::string& name, int64_t n, int64_t k, const std::string& format) {
  return {name, Shape{n, k}, "linear", format, "--scheme " + format};
}

// A timer that answers from a table keyed by (n, k, format) and counts its calls.
struct ScriptedTimer {
  std::map<std::tuple<int64_t, int64_t, Format>, ShapeTiming> table;
  int calls = 0;
  ShapeTimer fn() {
    return [this](int64_t rows, int64_t n, int64_t k, Format f) {
      EXPECT_EQ(rows, 64);
      ++calls;
      return table.at({n, k, f});
    };
  }
};

TEST(SpeedCheck, FloatClearlyFasterGoesBackToFloatAndTiesKeepInt8) {
  ScriptedTimer t;
  t.table[{16, 8, Format::Int8}] = {1.0, 2.0};   // float twice as fast: back to float
  t.table[{32, 8, Format::Int8}] = {0.97, 1.0};  // float 3% faster: a tie, int8 stays
  t.table[{8, 32, Format::Int8}] = {3.0, 1.0};   // int8 faster: stays
  std::vector<TensorDecision> d = {
      linear("a", 16, 8, "int8"), linear("b", 16, 8, "int8"),
      linear("c", 32, 8, "int8"), linear("d", 8, 32, "int8"),
      linear("e", 16, 8, "q4_0"), {"emb", Shape{100, 8}, "embedding", "int8", "--scheme int8"},
      linear("head", 2, 8, "f32")};
  SpeedCheckOptions o;
  o.rows = 64;
  const auto records = apply_speed_check(d, o, t.fn());
  EXPECT_EQ(t.calls, 3);  // a and b share a shape; q4, the embedding and f32 are not timed
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["kept"], "f32");
  EXPECT_EQ(records[1]["kept"], "int8");
  EXPECT_EQ(records[2]["kept"], "int8");
  EXPECT_EQ(d[0].format, "f32");
  EXPECT_EQ(d[1].format, "f32");
  EXPECT_NE(d[0].reason.find("never slower: float 1 ms, int8 2 ms at 64 rows"), std::string::npos)
      << d[0].reason;
  EXPECT_NE(d[0].reason.find("was: --scheme int8"), std::string::npos) << d[0].reason;
  EXPECT_EQ(d[2].format, "int8");
  EXPECT_NE(d[2].reason.find("not slower"), std::string::npos) << d[2].reason;
  EXPECT_EQ(d[3].format, "int8");
  EXPECT_EQ(d[4].format, "q4_0");
  EXPECT_EQ(d[4].reason, "--scheme q4_0");
  EXPECT_EQ(d[5].format, "int8");
  EXPECT_EQ(d[6].format, "f32");
}

TEST(SpeedCheck, ScopeAllAlsoTimesFourBitAndOffTimesNothing) {
  ScriptedTimer t;
  t.table[{16, 32, Format::Q4_0}] = {1.0, 1.5};
  t.table[{16, 32, Format::Int8}] = {1.0, 0.5};
  std::vector<TensorDecision> d = {linear("a", 16, 32, "q4_0"), linear("b", 16, 32, "int8")};
  SpeedCheckOptions o;
  o.rows = 64;
  o.scope = SpeedCheck::Off;
  EXPECT_TRUE(apply_speed_check(d, o, t.fn()).empty());
  EXPECT_EQ(t.calls, 0);
  EXPECT_EQ(d[0].format, "q4_0");
  o.scope = SpeedCheck::All;
  EXPECT_EQ(apply_speed_check(d, o, t.fn()).size(), 2u);
  EXPECT_EQ(t.calls, 2);  // same shape, two formats: timed per format
  EXPECT_EQ(d[0].format, "f32");
  EXPECT_TRUE(std::isnan(d[0].drop));
  EXPECT_EQ(d[1].format, "int8");
}

TEST(SpeedCheck, TieMarginIsAFractionOfTheQuantizedTime) {
  EXPECT_FALSE(float_is_faster({1.0, 1.0}, 0.05));   // equal: a tie
  EXPECT_FALSE(float_is_faster({0.96, 1.0}, 0.05));  // 0.96 * 1.05 = 1.008 > 1
  EXPECT_TRUE(float_is_faster({0.9, 1.0}, 0.05));
  EXPECT_TRUE(float_is_faster({0.96, 1.0}, 0.0));
  EXPECT_FALSE(float_is_faster({2.0, 1.0}, 0.0));
}

TEST(ShapeBenchmark, TimesBothKernelsOnATinyShape) {
  ShapeTimingOptions o;
  o.samples = 3;
  o.min_sample_ms = 0.05;
  for (Format f : {Format::Int8, Format::Q4_0}) {
    const ShapeTiming t = time_shape(4, 16, 64, f, o);
    EXPECT_GT(t.float_ms, 0.0);
    EXPECT_GT(t.quant_ms, 0.0);
    EXPECT_LT(t.float_ms, 50.0);  // milliseconds per call, not per sample
    EXPECT_LT(t.quant_ms, 50.0);
  }
  EXPECT_THROW(time_shape(0, 16, 64, Format::Int8, o), Error);
}

}  // namespace
}  // namespace kiln::quant
