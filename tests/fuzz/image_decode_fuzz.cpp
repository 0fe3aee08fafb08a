// libFuzzer target for the JPEG and PNG decoders (build with -DKILN_FUZZ=ON and clang).
//   build-fuzz/tests/fuzz/image_decode_fuzz -max_total_time=120 CORPUS_DIR tests/data/pil_formats
// The input is a whole file. A crash, sanitizer report (libjpeg/libpng errors longjmp through
// kiln's frames), exception other than kiln::Error, or an image whose buffer does not match its
// size is a bug.
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "data/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // A small pixel limit keeps each run fast; the limit check itself is what is exercised.
    const kiln::data::Image image =
        kiln::data::decode_image({data, size}, "fuzz-input", kiln::data::DecodeLimits{1 << 22});
    if (image.width <= 0 || image.height <= 0 ||
        image.rgb.size() != static_cast<size_t>(image.width * image.height * 3)) {
      std::fprintf(stderr, "bad image: %lldx%lld with %zu bytes\n",
                   static_cast<long long>(image.width), static_cast<long long>(image.height),
                   image.rgb.size());
      std::abort();
    }
  } catch (const kiln::Error&) {
  }
  return 0;
}
