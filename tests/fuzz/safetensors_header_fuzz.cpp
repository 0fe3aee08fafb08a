// libFuzzer target for the safetensors header parser (build with -DKILN_FUZZ=ON and clang).
//   build-fuzz/tests/fuzz/safetensors_header_fuzz -max_total_time=120 CORPUS_DIR tests/fuzz/corpus
// The input is a whole file. A crash, sanitizer report, uncaught exception or violated property
// (see safetensors_fuzz_check.h) is a bug.
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/safetensors_fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto r = kiln::io::fuzz::check_safetensors_bytes(data, size);
  if (!r.violation.empty()) {
    std::fprintf(stderr, "property violated: %s\n", r.violation.c_str());
    std::abort();
  }
  return 0;
}
