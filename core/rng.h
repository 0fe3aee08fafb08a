// Counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11). Every value is a pure
// function of (seed, counter), so a parallel loop can draw element i's number from counter
// offset + i in any thread, in any order, and get the same stream whatever the thread count.
#pragma once

#include <array>
#include <cstdint>

namespace kiln {

// One Philox-4x32-10 block: 4 random 32-bit words for (key, counter).
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);

// Uniform in [0, 1) with 24 random bits (exactly representable in f32).
inline float u32_to_unit_float(uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}
// Uniform in [0, 1) with 53 random bits.
inline double u64_to_unit_double(uint64_t x) {
  return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
}

// A seeded stream. `offset` counts the draws already consumed, so a draw of n numbers reserves
// [offset, offset + n) and element i of it uses counter offset + i. Copyable (checkpoints save
// seed + offset to resume bit-exactly).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves n counters and returns the first.
  uint64_t reserve(uint64_t n) {
    const uint64_t start = offset_;
    offset_ += n;
    return start;
  }

  // The i-th value of the stream (pure functions of seed and i).
  static uint32_t u32_at(uint64_t seed, uint64_t i);
  static float uniform_at(uint64_t seed, uint64_t i);     // [0, 1)
  static double uniform64_at(uint64_t seed, uint64_t i);  // [0, 1), 53 bits
  static double normal_at(uint64_t seed, uint64_t i);     // standard normal (Box-Muller)

  // Convenience draws that advance the stream.
  double uniform() { return uniform64_at(seed_, reserve(1)); }
  double normal() { return normal_at(seed_, reserve(1)); }
  uint64_t next_u64() {
    const uint64_t c = reserve(1);
    return (static_cast<uint64_t>(u32_at(seed_, 2 * c + (uint64_t{1} << 62))) << 32) |
           u32_at(seed_, 2 * c + 1 + (uint64_t{1} << 62));
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

}  // namespace kiln
