// CPU feature detection (CPUID + XGETBV) and the ISA level kiln dispatches to.
// A feature is reported only when the CPU has it *and* the OS saves the register state it needs
// (XCR0), so code behind a check can always execute. KILN_ISA=generic|avx2|avx512 caps the level
// (never raises it): tests and benchmarks use it to compare kernel paths on one machine.
#pragma once

#include <string>

namespace kiln {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_vbmi = false;  // vpermb: the q4 x q8 GEMV's nibble transpose
  bool amx_tile = false;     // amx_tile + amx_bf16: gemm::bf16gemm's AMX kernel
  bool amx_bf16 = false;
  bool amx_int8 = false;
};

// Kernel families, ordered: a higher level implies everything a lower one needs.
enum class IsaLevel { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// What the hardware + OS support (not affected by KILN_ISA). Detected once, cached.
const CpuFeatures& cpu_features();
// Space-separated names of the detected features, e.g. "avx2 fma f16c avx512f ...", for manifests.
std::string cpu_features_string();

// Highest level the hardware supports: kAvx2 needs avx2+fma+f16c; kAvx512 additionally needs
// avx512 f/bw/dq/vl.
IsaLevel hardware_isa();
// Level kernels should use: hardware_isa() capped by KILN_ISA (read once) or by set_isa_override.
IsaLevel active_isa();
// Whether the AVX-512 builds of the dispatched kernels run (active_isa() is kAvx512).
inline bool avx512_active() {
  return active_isa() == IsaLevel::kAvx512;
}
// For tests: cap the level in-process (clamped to hardware_isa()); pass nullptr to restore the
// KILN_ISA/hardware default. Not thread-safe with respect to concurrent kernel calls.
void set_isa_override(const IsaLevel* level);
const char* isa_name(IsaLevel level);

}  // namespace kiln
