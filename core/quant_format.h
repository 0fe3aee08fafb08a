// Quantized weight formats: what a quantized matrix's bytes mean, independent of any kernel.
// A quantized weight W [n, k] (n output rows, k inputs: a Linear's weight, an Embedding's table, a
// convolution's [c_out, c_in*kh*kw] GEMM matrix) is stored row by row, each row row_bytes(format,
// k) bytes, so a model file holds it as one mmap-able U8 tensor [n, row_bytes] and an embedding can
// dequantize single rows. This canonical layout is what files hold; kernels may repack it at load
// (core/qgemm.h), the way f32 weights are packed into gemm::PackedB.
//
//   int8  per output row, symmetric: k int8 values q, then one f32 scale s (little-endian,
//   unaligned;
//         read with memcpy). w = s * q, s = max|w| / 127 (s = 0 for an all-zero row).
//   q4_0  blocks of 32 along k (the last block zero-padded): f16 scale d, then 16 bytes holding 32
//         4-bit values (byte j: low nibble = element j, high nibble = element j + 16), 18 bytes per
//         block. w = d * (q - 8).
//   q4_1  blocks of 32: f16 scale d, f16 minimum m, 16 bytes of nibbles as q4_0, 20 bytes per
//         block. w = d * q + m.
// quantize_rows picks, per block, d = (the element of largest magnitude) / -8 for q4_0 (that
// element maps to q = 0 exactly), d = (max - min) / 15 and m = min for q4_1 (over the block's real
// elements; padding nibbles hold 8 in q4_0, i.e. the value 0, and 0 in q4_1), and rounds against
// the f16-rounded d and m the block stores. A weight that is NaN or infinite, or a block whose
// scale exceeds the f16 range, is a kiln::Error naming the row (and column or block).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::quant {

enum class Format : uint8_t { Int8, Q4_0, Q4_1 };

inline constexpr Format kAllFormats[] = {Format::Int8, Format::Q4_0, Format::Q4_1};

// "int8", "q4_0", "q4_1".
const char* format_name(Format f);
std::optional<Format> parse_format(std::string_view s);

// Block traits: elements per block along k (int8: the whole row, reported as 0) and bytes per
// block.
struct BlockTraits {
  int64_t block_elems;
  size_t block_bytes;
};
BlockTraits block_traits(Format f);

// Bytes of one quantized row of k elements.
size_t row_bytes(Format f, int64_t k);

// Quantizes rows of w (row stride ldw floats) into dst (n * row_bytes(f, k) bytes). Round to
// nearest, ties away from zero, clamped to the format's range. Deterministic and thread-count
// independent.
void quantize_rows(Format f, const float* w, int64_t n, int64_t k, int64_t ldw, uint8_t* dst);
// Inverse: dst [n, k] floats (row stride ldd) from n rows of src.
void dequantize_rows(Format f, const uint8_t* src, int64_t n, int64_t k, float* dst, int64_t ldd);

// One 4-bit block, the pieces quantize_rows is made of: the stored f16 scale d (and q4_1 minimum
// m) it picks for the block's `len` real values, the code of a value against them, the value of a
// code, and the block's bytes. Error-compensating rounding (quant/gptq.h) fixes a block's scale
// from its values, then codes each value after the earlier columns' rounding errors have moved
// it. `row` and `block` name the place in errors (a scale beyond the f16 range).
struct Q4Scale {
  uint16_t d_bits = 0, m_bits = 0;  // what the block stores (f16)
  float d = 0.0f, m = 0.0f;         // the same values decoded, which the codes are rounded against
};
Q4Scale q4_block_scale(Format f, const float* w, int64_t len, int64_t row, int64_t block);
int q4_code(Format f, const Q4Scale& s, float w);
float q4_value(Format f, const Q4Scale& s, int q);
// codes[0, len) into dst (block_traits(f).block_bytes bytes); padding takes the code of 0.
void q4_store_block(Format f, const Q4Scale& s, const int* codes, int64_t len, uint8_t* dst);

}  // namespace kiln::quant
