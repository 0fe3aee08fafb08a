#include "core/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KILN_X86 1
#endif

namespace kiln {
namespace {

#ifdef KILN_X86
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(uint32_t leaf, uint32_t sub) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}

// XGETBV is encoded by hand so this file needs no -mxsave flag.
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t v, int i) {
  return (v >> i) & 1u;
}

CpuFeatures detect() {
  CpuFeatures f;
  const uint32_t max_leaf = cpuid(0, 0).a;
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  // Without OSXSAVE the OS does not save YMM/ZMM state: no AVX of any kind is usable.
  if (!bit(l1.c, 27)) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;              // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;      // XTILECFG + XTILEDATA
  const bool avx = bit(l1.c, 28) && os_ymm;
  f.fma = avx && bit(l1.c, 12);
  f.f16c = avx && bit(l1.c, 29);
  if (max_leaf < 7) return f;
  const Regs l7 = cpuid(7, 0);
  f.avx2 = avx && bit(l7.b, 5);
  f.avx512f = os_zmm && bit(l7.b, 16);
  f.avx512dq = f.avx512f && bit(l7.b, 17);
  f.avx512bw = f.avx512f && bit(l7.b, 30);
  f.avx512vl = f.avx512f && bit(l7.b, 31);
  f.avx512_vnni = f.avx512f && bit(l7.c, 11);
  f.avx512_vbmi = f.avx512f && bit(l7.c, 1);
  f.amx_bf16 = os_amx && bit(l7.d, 22);
  f.amx_tile = os_amx && bit(l7.d, 24);
  f.amx_int8 = os_amx && bit(l7.d, 25);
  if (l7.a >= 1) f.avx512_bf16 = f.avx512f && bit(cpuid(7, 1).a, 5);
  return f;
}
#else
CpuFeatures detect() {
  return {};
}
#endif

IsaLevel level_of(const CpuFeatures& f) {
  if (!(f.avx2 && f.fma && f.f16c)) return IsaLevel::kGeneric;
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl) return IsaLevel::kAvx512;
  return IsaLevel::kAvx2;
}

IsaLevel env_capped(IsaLevel hw) {
  const char* env = std::getenv("KILN_ISA");
  if (env == nullptr || *env == '\0') return hw;
  IsaLevel want = hw;
  if (std::strcmp(env, "generic") == 0) want = IsaLevel::kGeneric;
  if (std::strcmp(env, "avx2") == 0) want = IsaLevel::kAvx2;
  if (std::strcmp(env, "avx512") == 0) want = IsaLevel::kAvx512;
  return want < hw ? want : hw;
}

// -1 = no in-process override.
std::atomic<int> g_override{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  const std::pair<bool, const char*> names[] = {{f.avx2, "avx2"},
                                                {f.fma, "fma"},
                                                {f.f16c, "f16c"},
                                                {f.avx512f, "avx512f"},
                                                {f.avx512bw, "avx512bw"},
                                                {f.avx512dq, "avx512dq"},
                                                {f.avx512vl, "avx512vl"},
                                                {f.avx512_vnni, "avx512_vnni"},
                                                {f.avx512_bf16, "avx512_bf16"},
                                                {f.avx512_vbmi, "avx512_vbmi"},
                                                {f.amx_tile, "amx_tile"},
                                                {f.amx_bf16, "amx_bf16"},
                                                {f.amx_int8, "amx_int8"}};
  std::string s;
  for (const auto& [on, name] : names) {
    if (!on) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s;
}

IsaLevel hardware_isa() {
  static const IsaLevel l = level_of(cpu_features());
  return l;
}

IsaLevel active_isa() {
  const int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<IsaLevel>(o);
  static const IsaLevel l = env_capped(hardware_isa());
  return l;
}

void set_isa_override(const IsaLevel* level) {
  if (level == nullptr) {
    g_override.store(-1);
    return;
  }
  const IsaLevel capped = *level < hardware_isa() ? *level : hardware_isa();
  g_override.store(static_cast<int>(capped));
}

const char* isa_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kGeneric:
      return "generic";
    case IsaLevel::kAvx2:
      return "avx2";
    case IsaLevel::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace kiln
