// The never-slower rule for convolutions (quant/conv_speed_check.h) with a scripted forward
// timer: the arrangement whose forward is clearly fastest wins, ties keep the quantized formats,
// every arrangement is timed in every round, only conv decisions in scope are touched, and more
// kernel sizes than kMaxConvGroups merge into one group.
#include "quant/conv_speed_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "core/error.h"

namespace kiln::quant {
namespace {

TensorDecision conv(const std::string& name, int64_t k, const std::string& format) {
  return {name, Shape{8, 4, k, k}, "conv", format, "--scheme " + format};
}

// Times an arrangement from a table keyed by the set of conv names in float.
struct ScriptedForward {
  std::map<std::set<std::string>, double> ms;
  int calls = 0;
  ForwardTimer fn() {
    return [this](const std::vector<TensorDecision>& ds) {
      ++calls;
      std::set<std::string> in_float;
      for (const auto& d : ds)
        if (d.kind == "conv" && d.format == "f32") in_float.insert(d.name);
      return ms.at(in_float);
    };
  }
};

SpeedCheckOptions int8_scope() {
  SpeedCheckOptions o;
  o.scope = SpeedCheck::Int8;
  o.tie_margin = 0.05;
  return o;
}

TEST(ConvSpeedCheck, TheClearlyFastestArrangementWins) {
  // 1x1 convs are faster quantized, 3x3 convs faster in float.
  std::vector<TensorDecision> d = {conv("a1", 1, "int8"), conv("b3", 3, "int8"),
                                   conv("c1", 1, "int8"), conv("d3", 3, "int8")};
  ScriptedForward t;
  t.ms[{}] = 10.0;
  t.ms[{"a1", "c1"}] = 12.0;
  t.ms[{"b3", "d3"}] = 8.0;
  t.ms[{"a1", "b3", "c1", "d3"}] = 9.0;
  const auto record = apply_conv_speed_check(d, int8_scope(), 3, t.fn());
  EXPECT_EQ(t.calls, 4 * 3);
  EXPECT_EQ(d[0].format, "int8");
  EXPECT_EQ(d[2].format, "int8");
  EXPECT_EQ(d[1].format, "f32");
  EXPECT_EQ(d[3].format, "f32");
  EXPECT_TRUE(std::isnan(d[1].drop));
  EXPECT_NE(d[1].reason.find("never slower"), std::string::npos) << d[1].reason;
  EXPECT_NE(d[1].reason.find("was: --scheme int8"), std::string::npos) << d[1].reason;
  EXPECT_NE(d[0].reason.find("not slower"), std::string::npos) << d[0].reason;
  EXPECT_EQ(record["groups"], nlohmann::json({"1x1", "3x3"}));
  EXPECT_EQ(record["kept_float"], "3x3");
  EXPECT_EQ(record["arrangements"].size(), 4u);
  EXPECT_EQ(record["arrangements"][2]["median_ms"], 8.0);
}

TEST(ConvSpeedCheck, TiesKeepTheQuantizedFormats) {
  std::vector<TensorDecision> d = {conv("a", 3, "int8")};
  ScriptedForward t;
  t.ms[{}] = 10.0;
  t.ms[{"a"}] = 9.7;  // float 3% faster: within the 5% margin
  const auto record = apply_conv_speed_check(d, int8_scope(), 1, t.fn());
  EXPECT_EQ(d[0].format, "int8");
  EXPECT_EQ(record["kept_float"], "");
}

TEST(ConvSpeedCheck, OnlyConvsInScopeAreTimedOrTouched) {
  std::vector<TensorDecision> d = {
      conv("q4", 3, "q4_0"), conv("f", 3, "f32"), {"lin", Shape{8, 8}, "linear", "int8", "r"}};
  ScriptedForward t;
  EXPECT_TRUE(apply_conv_speed_check(d, int8_scope(), 2, t.fn()).is_null());
  EXPECT_EQ(t.calls, 0);
  EXPECT_EQ(d[0].format, "q4_0");
  SpeedCheckOptions all = int8_scope();
  all.scope = SpeedCheck::All;  // --never-slower: q4 convs are checked too
  t.ms[{"f"}] = 5.0;            // "f" was float from the start
  t.ms[{"f", "q4"}] = 2.0;
  apply_conv_speed_check(d, all, 2, t.fn());
  EXPECT_EQ(d[0].format, "f32");
  EXPECT_EQ(d[2].format, "int8") << "Linears are quant/speed_check.h's";
  SpeedCheckOptions off = int8_scope();
  off.scope = SpeedCheck::Off;
  EXPECT_TRUE(apply_conv_speed_check(d, off, 2, t.fn()).is_null());
}

TEST(ConvSpeedCheck, ManyKernelSizesMergeIntoOneGroup) {
  std::vector<TensorDecision> d = {conv("k1", 1, "int8"), conv("k3", 3, "int8"),
                                   conv("k5", 5, "int8"), conv("k7", 7, "int8")};
  ScriptedForward t;
  t.ms[{}] = 4.0;
  t.ms[{"k1", "k3", "k5", "k7"}] = 3.0;
  const auto record = apply_conv_speed_check(d, int8_scope(), 3, t.fn());
  EXPECT_EQ(t.calls, 2 * 3);
  EXPECT_EQ(record["groups"], nlohmann::json({"all"}));
  for (const auto& x : d) EXPECT_EQ(x.format, "f32") << x.name;
}

TEST(ConvSpeedCheck, RefusesBadArguments) {
  std::vector<TensorDecision> d = {conv("a", 3, "int8")};
  ScriptedForward t;
  EXPECT_THROW(apply_conv_speed_check(d, int8_scope(), 0, t.fn()), Error);
  std::vector<TensorDecision> flat = {{"w", Shape{8, 4}, "conv", "int8", "r"}};
  EXPECT_THROW(apply_conv_speed_check(flat, int8_scope(), 1, t.fn()), Error);
}

}  // namespace
}  // namespace kiln::quant
