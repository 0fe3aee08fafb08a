#include "core/quant_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace kiln::quant {
namespace {

constexpr int64_t kQ4Block = 32;

// Round to nearest, ties away from zero (the rounding quantize_rows promises), as an int.
inline int round_away(float v) {
  return static_cast<int>(std::round(v));
}

void check_finite_row(Format f, const float* w, int64_t row, int64_t k) {
  for (int64_t p = 0; p < k; ++p) {
    KILN_CHECK(std::isfinite(w[p]), "quantize_rows(", format_name(f), "): weight row ", row,
               " has a non-finite value (", w[p], ") at column ", p);
  }
}

// f16 scale that must stay finite: a block whose range exceeds f16 cannot be stored.
uint16_t f16_scale(Format f, float v, int64_t row, int64_t block) {
  const uint16_t h = f32_to_f16(v);
  KILN_CHECK(std::isfinite(f16_to_f32(h)), "quantize_rows(", format_name(f), "): row ", row,
             " block ", block, " needs scale/minimum ", v, ", beyond the f16 range");
  return h;
}

void quantize_int8_row(const float* w, int64_t k, uint8_t* dst) {
  float amax = 0.0f;
  for (int64_t p = 0; p < k; ++p) amax = std::max(amax, std::fabs(w[p]));
  const float s = amax / 127.0f;
  for (int64_t p = 0; p < k; ++p) {
    const int q = s == 0.0f ? 0 : std::clamp(round_away(w[p] / s), -127, 127);
    dst[p] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
  std::memcpy(dst + k, &s, sizeof(float));
}

// Element e of a 32-block goes to byte e % 16, low nibble for e < 16 and high nibble otherwise.
inline void put_nibble(uint8_t* qs, int64_t e, int q) {
  if (e < 16) {
    qs[e] = static_cast<uint8_t>((qs[e] & 0xF0) | q);
  } else {
    qs[e - 16] = static_cast<uint8_t>((qs[e - 16] & 0x0F) | (q << 4));
  }
}
inline int get_nibble(const uint8_t* qs, int64_t e) {
  return e < 16 ? qs[e] & 0x0F : qs[e - 16] >> 4;
}

}  // namespace

Q4Scale q4_block_scale(Format f, const float* w, int64_t len, int64_t row, int64_t block) {
  Q4Scale s;
  if (f == Format::Q4_0) {
    // The element of largest magnitude maps to q = 0 exactly (d = it / -8), so the full [-8, 7]
    // range is used on that side.
    float amax = 0.0f, vmax = 0.0f;
    for (int64_t e = 0; e < len; ++e) {
      if (std::fabs(w[e]) > amax) {
        amax = std::fabs(w[e]);
        vmax = w[e];
      }
    }
    s.d_bits = f16_scale(f, vmax / -8.0f, row, block);
    s.d = f16_to_f32(s.d_bits);
    return s;
  }
  KILN_CHECK(f == Format::Q4_1, "q4_block_scale: ", format_name(f), " is not a 4-bit format");
  // [min, max] of the block's real elements (padding excluded) mapped onto 0..15.
  float lo = len > 0 ? w[0] : 0.0f, hi = lo;
  for (int64_t e = 1; e < len; ++e) {
    lo = std::min(lo, w[e]);
    hi = std::max(hi, w[e]);
  }
  s.d_bits = f16_scale(f, (hi - lo) / 15.0f, row, block);
  s.m_bits = f16_scale(f, lo, row, block);
  s.d = f16_to_f32(s.d_bits);
  s.m = f16_to_f32(s.m_bits);
  return s;
}

int q4_code(Format f, const Q4Scale& s, float w) {
  if (f == Format::Q4_0) return s.d == 0.0f ? 8 : std::clamp(round_away(w / s.d) + 8, 0, 15);
  return s.d == 0.0f ? 0 : std::clamp(round_away((w - s.m) / s.d), 0, 15);
}

float q4_value(Format f, const Q4Scale& s, int q) {
  return f == Format::Q4_0 ? s.d * static_cast<float>(q - 8) : s.d * static_cast<float>(q) + s.m;
}

void q4_store_block(Format f, const Q4Scale& s, const int* codes, int64_t len, uint8_t* dst) {
  std::memcpy(dst, &s.d_bits, 2);
  if (f == Format::Q4_1) std::memcpy(dst + 2, &s.m_bits, 2);
  uint8_t* qs = dst + (f == Format::Q4_1 ? 4 : 2);
  // Padding elements hold the code of the value 0: 8 in q4_0, 0 in q4_1.
  std::memset(qs, f == Format::Q4_0 ? 0x88 : 0x00, 16);
  for (int64_t e = 0; e < len; ++e) put_nibble(qs, e, codes[e]);
}

const char* format_name(Format f) {
  switch (f) {
    case Format::Int8:
      return "int8";
    case Format::Q4_0:
      return "q4_0";
    case Format::Q4_1:
      return "q4_1";
  }
  return "?";
}

std::optional<Format> parse_format(std::string_view s) {
  for (Format f : kAllFormats) {
    if (s == format_name(f)) return f;
  }
  return std::nullopt;
}

BlockTraits block_traits(Format f) {
  switch (f) {
    case Format::Int8:
      return {0, 0};
    case Format::Q4_0:
      return {kQ4Block, 18};
    case Format::Q4_1:
      return {kQ4Block, 20};
  }
  throw Error("block_traits: unknown quantization format");
}

size_t row_bytes(Format f, int64_t k) {
  KILN_CHECK(k >= 0, "row_bytes: negative row length ", k);
  if (f == Format::Int8) return static_cast<size_t>(k) + sizeof(float);
  const BlockTraits t = block_traits(f);
  return static_cast<size_t>((k + t.block_elems - 1) / t.block_elems) * t.block_bytes;
}

void quantize_rows(Format f, const float* w, int64_t n, int64_t k, int64_t ldw, uint8_t* dst) {
  const size_t rb = row_bytes(f, k);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = w + r * ldw;
    check_finite_row(f, row, r, k);
    uint8_t* out = dst + r * rb;
    switch (f) {
      case Format::Int8:
        quantize_int8_row(row, k, out);
        break;
      case Format::Q4_0:
      case Format::Q4_1: {
        // Round to nearest against the f16-rounded scale (and minimum) the block stores.
        const size_t bb = block_traits(f).block_bytes;
        int codes[kQ4Block];
        for (int64_t b0 = 0; b0 < k; b0 += kQ4Block, out += bb) {
          const int64_t len = std::min(kQ4Block, k - b0);
          const Q4Scale s = q4_block_scale(f, row + b0, len, r, b0 / kQ4Block);
          for (int64_t e = 0; e < len; ++e) codes[e] = q4_code(f, s, row[b0 + e]);
          q4_store_block(f, s, codes, len, out);
        }
        break;
      }
    }
  }
}

void dequantize_rows(Format f, const uint8_t* src, int64_t n, int64_t k, float* dst, int64_t ldd) {
  const size_t rb = row_bytes(f, k);
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* in = src + r * rb;
    float* out = dst + r * ldd;
    if (f == Format::Int8) {
      float s;
      std::memcpy(&s, in + k, sizeof(float));
      for (int64_t p = 0; p < k; ++p) out[p] = s * static_cast<float>(static_cast<int8_t>(in[p]));
      continue;
    }
    const BlockTraits t = block_traits(f);
    for (int64_t b0 = 0; b0 < k; b0 += kQ4Block, in += t.block_bytes) {
      const int64_t len = std::min(kQ4Block, k - b0);
      uint16_t dh, mh = 0;
      std::memcpy(&dh, in, 2);
      if (f == Format::Q4_1) std::memcpy(&mh, in + 2, 2);
      const float d = f16_to_f32(dh), mn = f16_to_f32(mh);
      const uint8_t* qs = in + (f == Format::Q4_1 ? 4 : 2);
      for (int64_t e = 0; e < len; ++e) {
        const int q = get_nibble(qs, e);
        out[b0 + e] =
            f == Format::Q4_0 ? d * static_cast<float>(q - 8) : d * static_cast<float>(q) + mn;
      }
    }
  }
}

}  // namespace kiln::quant
