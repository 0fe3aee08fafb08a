// Quantized weight formats (core/quant_format.h): names, sizes, exact bytes for hand-checked
// rows, round-trip error against f64 within each format's bound, and errors on bad weights.
#include "core/quant_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace {

using kiln::quant::Format;

std::vector<uint8_t> quantize(Format f, const std::vector<float>& w, int64_t n, int64_t k) {
  std::vector<uint8_t> q(n * kiln::quant::row_bytes(f, k));
  kiln::quant::quantize_rows(f, w.data(), n, k, k, q.data());
  return q;
}

std::vector<float> dequantize(Format f, const std::vector<uint8_t>& q, int64_t n, int64_t k) {
  std::vector<float> w(n * k);
  kiln::quant::dequantize_rows(f, q.data(), n, k, w.data(), k);
  return w;
}

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return kiln::f16_to_f32(h);
}

TEST(QuantFormat, NamesParseAndTraits) {
  for (Format f : kiln::quant::kAllFormats) {
    EXPECT_EQ(kiln::quant::parse_format(kiln::quant::format_name(f)), f);
  }
  EXPECT_FALSE(kiln::quant::parse_format("q4").has_value());
  EXPECT_FALSE(kiln::quant::parse_format("INT8").has_value());
  EXPECT_EQ(kiln::quant::block_traits(Format::Int8).block_elems, 0);
  EXPECT_EQ(kiln::quant::block_traits(Format::Q4_0).block_elems, 32);
  EXPECT_EQ(kiln::quant::block_traits(Format::Q4_0).block_bytes, 18u);
  EXPECT_EQ(kiln::quant::block_traits(Format::Q4_1).block_bytes, 20u);
}

TEST(QuantFormat, RowBytes) {
  using kiln::quant::row_bytes;
  EXPECT_EQ(row_bytes(Format::Int8, 0), 4u);
  EXPECT_EQ(row_bytes(Format::Int8, 77), 81u);
  EXPECT_EQ(row_bytes(Format::Q4_0, 0), 0u);
  EXPECT_EQ(row_bytes(Format::Q4_0, 1), 18u);
  EXPECT_EQ(row_bytes(Format::Q4_0, 32), 18u);
  EXPECT_EQ(row_bytes(Format::Q4_0, 33), 36u);
  EXPECT_EQ(row_bytes(Format::Q4_1, 768), 24u * 20u);
  EXPECT_EQ(row_bytes(Format::Q4_1, 65), 60u);
  EXPECT_THROW(row_bytes(Format::Int8, -1), kiln::Error);
}

// Hand-checked bytes: scale = max|w| / 127 and ties rounded away from zero.
TEST(QuantFormat, Int8ExactBytes) {
  const std::vector<float> w = {127.0f, -63.5f, 0.0f, 1.0f, 0.49f};
  const auto q = quantize(Format::Int8, w, 1, 5);
  ASSERT_EQ(q.size(), 9u);
  EXPECT_EQ(static_cast<int8_t>(q[0]), 127);
  EXPECT_EQ(static_cast<int8_t>(q[1]), -64);
  EXPECT_EQ(static_cast<int8_t>(q[2]), 0);
  EXPECT_EQ(static_cast<int8_t>(q[3]), 1);
  EXPECT_EQ(static_cast<int8_t>(q[4]), 0);
  float s;
  std::memcpy(&s, q.data() + 5, 4);
  EXPECT_EQ(s, 1.0f);
  EXPECT_EQ(dequantize(Format::Int8, q, 1, 5)[1], -64.0f);
}

// w[e] = e - 16: the largest magnitude is w[0] = -16, so d = 2 and w[0] maps to q = 0; -7.5
// rounds away to -8 (q = 0) and +7.5 would be q = 16, clamped to 15. k = 33 leaves a second
// block with one real element and padding nibbles of 8 (the value 0).
TEST(QuantFormat, Q4_0ExactBytes) {
  std::vector<float> w(33);
  for (int e = 0; e < 32; ++e) w[e] = static_cast<float>(e - 16);
  w[32] = 0.25f;
  const auto q = quantize(Format::Q4_0, w, 1, 33);
  ASSERT_EQ(q.size(), 36u);
  EXPECT_EQ(f16_at(q.data()), 2.0f);
  EXPECT_EQ(q[2 + 0] & 0x0F, 0);   // e = 0: -16 / 2 + 8
  EXPECT_EQ(q[2 + 1] & 0x0F, 0);   // e = 1: -15 / 2 = -7.5 -> -8
  EXPECT_EQ(q[2 + 15] & 0x0F, 7);  // e = 15: -1 / 2 = -0.5 rounds away to -1
  EXPECT_EQ(q[2 + 0] >> 4, 8);     // e = 16: 0
  EXPECT_EQ(q[2 + 15] >> 4, 15);   // e = 31: 15 / 2 = 7.5 -> 8 -> clamped to 15
  EXPECT_EQ(f16_at(q.data() + 18), 0.25f / -8.0f);
  EXPECT_EQ(q[20 + 0], 0x80);  // element 32 -> q = 0 in the low nibble; element 48 is padding
  for (int j = 1; j < 16; ++j) EXPECT_EQ(q[20 + j], 0x88) << j;
  const auto back = dequantize(Format::Q4_0, q, 1, 33);
  EXPECT_EQ(back[0], -16.0f);
  EXPECT_EQ(back[31], 14.0f);
  EXPECT_EQ(back[32], 0.25f);
}

TEST(QuantFormat, Q4_1ExactBytes) {
  std::vector<float> w(32);
  for (int e = 0; e < 32; ++e) w[e] = 1.0f + 0.5f * static_cast<float>(e % 16);  // [1, 8.5]
  const auto q = quantize(Format::Q4_1, w, 1, 32);
  ASSERT_EQ(q.size(), 20u);
  EXPECT_EQ(f16_at(q.data()), 0.5f);
  EXPECT_EQ(f16_at(q.data() + 2), 1.0f);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[4 + j], j | (j << 4)) << j;
  EXPECT_EQ(dequantize(Format::Q4_1, q, 1, 32), w);  // exactly representable
}

// Round trip against f64: every element within the format's bound, computed from the stored
// scales. Rows include an all-zero row, a constant row, an outlier row and an odd k.
TEST(QuantFormat, RoundTripErrorBounds) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  const int64_t n = 6, k = 77;
  std::vector<float> w(n * k);
  for (auto& v : w) v = dist(rng);
  for (int64_t p = 0; p < k; ++p) {
    w[1 * k + p] = 0.0f;
    w[2 * k + p] = -0.3f;
  }
  w[3 * k + 40] = 4.0f;
  const double eps = std::numeric_limits<float>::epsilon();
  for (Format f : kiln::quant::kAllFormats) {
    SCOPED_TRACE(kiln::quant::format_name(f));
    const auto q = quantize(f, w, n, k);
    const auto back = dequantize(f, q, n, k);
    const size_t rb = kiln::quant::row_bytes(f, k);
    for (int64_t r = 0; r < n; ++r) {
      const uint8_t* row = q.data() + r * rb;
      for (int64_t p = 0; p < k; ++p) {
        const double x = w[r * k + p], got = back[r * k + p];
        const double err = std::fabs(x - got);
        double bound = 0;
        if (f == Format::Int8) {
          float s;
          std::memcpy(&s, row + k, 4);
          bound = 0.5 * s + 4 * eps * std::fabs(x);
        } else {
          const int64_t b0 = p / 32 * 32, len = std::min<int64_t>(32, k - b0);
          const uint8_t* blk = row + (p / 32) * kiln::quant::block_traits(f).block_bytes;
          double lo = w[r * k + b0], hi = lo, amax = 0;
          for (int64_t e = 0; e < len; ++e) {
            lo = std::min<double>(lo, w[r * k + b0 + e]);
            hi = std::max<double>(hi, w[r * k + b0 + e]);
            amax = std::max<double>(amax, std::fabs(w[r * k + b0 + e]));
          }
          const double d = std::fabs(f16_at(blk));
          if (f == Format::Q4_0) {
            // Half a step, except the end opposite the largest magnitude, which may be clamped
            // by one step: never more than amax / 8 (plus the f16 rounding of d).
            bound = (amax - std::fabs(x) < 0.5 * d ? d : 0.5 * d) + 4 * eps * std::fabs(x);
            EXPECT_LE(err, amax / 8 * (1 + 1.0 / 1024) + 1e-30);
          } else {
            const double mn = f16_at(blk + 2), d_exact = (hi - lo) / 15;
            bound =
                0.5 * d + 15 * std::fabs(d - d_exact) + std::fabs(lo - mn) + 4 * eps * std::fabs(x);
          }
        }
        EXPECT_LE(err, bound) << "row " << r << " col " << p << " w " << x;
      }
    }
    for (int64_t p = 0; p < k; ++p) EXPECT_EQ(back[1 * k + p], 0.0f);  // zeros stay exact
  }
}

TEST(QuantFormat, NonFiniteAndOutOfRangeWeightsAreErrors) {
  for (Format f : kiln::quant::kAllFormats) {
    std::vector<float> w(2 * 40, 0.5f);
    w[40 + 17] = std::numeric_limits<float>::quiet_NaN();
    std::vector<uint8_t> q(2 * kiln::quant::row_bytes(f, 40));
    try {
      kiln::quant::quantize_rows(f, w.data(), 2, 40, 40, q.data());
      ADD_FAILURE() << "no error for NaN";
    } catch (const kiln::Error& e) {
      EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("column 17"), std::string::npos) << e.what();
    }
    w[40 + 17] = std::numeric_limits<float>::infinity();
    EXPECT_THROW(kiln::quant::quantize_rows(f, w.data(), 2, 40, 40, q.data()), kiln::Error);
  }
  // A q4 block needing a scale beyond f16's 65504.
  std::vector<float> big(32, 1e6f);
  std::vector<uint8_t> q(kiln::quant::row_bytes(Format::Q4_0, 32));
  EXPECT_THROW(kiln::quant::quantize_rows(Format::Q4_0, big.data(), 1, 32, 32, q.data()),
               kiln::Error);
}

// Rows are independent: a strided source gives the same bytes as a compact one.
TEST(QuantFormat, RowStride) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  const int64_t n = 3, k = 40, ldw = 45;
  std::vector<float> strided(n * ldw), compact(n * k);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t p = 0; p < ldw; ++p) strided[r * ldw + p] = dist(rng);
    for (int64_t p = 0; p < k; ++p) compact[r * k + p] = strided[r * ldw + p];
  }
  for (Format f : kiln::quant::kAllFormats) {
    std::vector<uint8_t> a(n * kiln::quant::row_bytes(f, k)), b(a.size());
    kiln::quant::quantize_rows(f, strided.data(), n, k, ldw, a.data());
    kiln::quant::quantize_rows(f, compact.data(), n, k, k, b.data());
    EXPECT_EQ(a, b);
  }
}

}  // namespace
