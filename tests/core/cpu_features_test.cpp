#include "core/cpu_features.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

namespace {

TEST(CpuFeatures, ImplicationsHold) {
  const kiln::CpuFeatures& f = kiln::cpu_features();
  // Every AVX-512 sub-feature is only reported together with AVX-512F (we require OS ZMM state).
  if (f.avx512bw || f.avx512dq || f.avx512vl || f.avx512_vnni || f.avx512_bf16) {
    EXPECT_TRUE(f.avx512f);
  }
  if (f.amx_bf16 || f.amx_int8) {
    EXPECT_TRUE(f.amx_tile);
  }
  // Every CPU shipped with AVX-512 also has AVX2 and FMA.
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
    EXPECT_TRUE(f.fma);
  }
}

TEST(CpuFeatures, StringListsExactlyTheDetectedFeatures) {
  const kiln::CpuFeatures& f = kiln::cpu_features();
  // Split the string into words and look names up exactly (so "avx512f" never matches "avx512").
  std::istringstream words(kiln::cpu_features_string());
  std::set<std::string> names;
  for (std::string w; words >> w;) names.insert(w);
  auto has = [&](const char* name) { return names.count(name) == 1; };
  EXPECT_EQ(has("avx2"), f.avx2);
  EXPECT_EQ(has("fma"), f.fma);
  EXPECT_EQ(has("f16c"), f.f16c);
  EXPECT_EQ(has("avx512f"), f.avx512f);
  EXPECT_EQ(has("avx512bw"), f.avx512bw);
  EXPECT_EQ(has("avx512dq"), f.avx512dq);
  EXPECT_EQ(has("avx512vl"), f.avx512vl);
  EXPECT_EQ(has("avx512_vnni"), f.avx512_vnni);
  EXPECT_EQ(has("avx512_bf16"), f.avx512_bf16);
  EXPECT_EQ(has("amx_tile"), f.amx_tile);
}

TEST(CpuFeatures, IsaLevelMatchesFeatures) {
  const kiln::CpuFeatures& f = kiln::cpu_features();
  const kiln::IsaLevel hw = kiln::hardware_isa();
  if (hw >= kiln::IsaLevel::kAvx2) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c);
  }
  if (hw >= kiln::IsaLevel::kAvx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl);
  }
  if (f.avx2 && f.fma && f.f16c) {
    EXPECT_GE(hw, kiln::IsaLevel::kAvx2);
  }
  EXPECT_LE(kiln::active_isa(), hw);  // KILN_ISA only lowers
}

TEST(CpuFeatures, OverrideCapsAndRestores) {
  const kiln::IsaLevel before = kiln::active_isa();
  const kiln::IsaLevel generic = kiln::IsaLevel::kGeneric;
  kiln::set_isa_override(&generic);
  EXPECT_EQ(kiln::active_isa(), kiln::IsaLevel::kGeneric);
  const kiln::IsaLevel high = kiln::IsaLevel::kAvx512;
  kiln::set_isa_override(&high);  // can never exceed the hardware
  EXPECT_EQ(kiln::active_isa(), kiln::hardware_isa());
  kiln::set_isa_override(nullptr);
  EXPECT_EQ(kiln::active_isa(), before);
  EXPECT_STREQ(kiln::isa_name(kiln::IsaLevel::kAvx2), "avx2");
}

}  // namespace
