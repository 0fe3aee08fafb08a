// Random numbers for one training example in one epoch, as a pure function of (seed, epoch,
// example): the stream's key is one Philox block of (seed; epoch, example), and draw i is
// Generator::uniform64_at(key, slot base + i). So an augmentation is the same whichever thread
// runs it, in whatever order, and a resumed run sees exactly the images it would have seen.
// Each augmentation step draws from its own slot, so turning one step on or off does not change
// what the others draw.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/rng.h"

namespace kiln::data {

class ExampleRng {
 public:
  ExampleRng(uint64_t seed, uint64_t epoch, uint64_t example) {
    const auto block = philox4x32(seed, epoch, example);
    key_ = (static_cast<uint64_t>(block[0]) << 32) | block[1];
  }
  // A fresh stream for one augmentation step (slot < 2^32), starting at its first draw.
  ExampleRng slot(uint32_t index) const {
    ExampleRng r = *this;
    r.base_ = static_cast<uint64_t>(index) << 32;
    r.next_ = 0;
    return r;
  }

  double uniform() { return Generator::uniform64_at(key_, base_ + next_++); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }  // [lo, hi)
  // Uniform in [lo, hi), hi > lo.
  int64_t integer(int64_t lo, int64_t hi) {
    const auto n = static_cast<double>(hi - lo);
    return lo + std::min(static_cast<int64_t>(uniform() * n), hi - lo - 1);
  }
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t key_ = 0;
  uint64_t base_ = 0;
  uint64_t next_ = 0;
};

}  // namespace kiln::data
