// Small open-addressing hash maps for the tokenizer's hot lookups (vocabulary by string, BPE merges
// by id pair). std::unordered_map chases a pointer per probe and hashes std::string; these keep
// keys inline, hash string_views without allocating, and are built once then only read.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace kiln::tok {

inline uint64_t hash_bytes(std::string_view s) {
  // FNV-1a over 8-byte words, then a murmur-style finaliser: fast on the short keys tokens are.
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0xff51afd7ed558ccdull;
  h ^= h >> 32;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  return h;
}

// string_view -> int32 map. Keys must outlive the map (they point into the owner's storage).
class StringIdMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  // Inserts or overwrites.
  void insert(std::string_view key, int32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = hash_bytes(key);
    size_t i = h & mask_;
    while (slots_[i].used) {
      if (slots_[i].key == key) {
        slots_[i].value = value;
        return;
      }
      i = (i + 1) & mask_;
    }
    slots_[i] = {key, value, static_cast<uint32_t>(h >> 32), true};
    ++size_;
  }
  const int32_t* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const uint64_t h = hash_bytes(key);
    const auto tag = static_cast<uint32_t>(h >> 32);
    size_t i = h & mask_;
    while (slots_[i].used) {
      // The stored hash bits reject almost every non-matching slot without touching its key.
      if (slots_[i].tag == tag && slots_[i].key.size() == key.size() &&
          std::memcmp(slots_[i].key.data(), key.data(), key.size()) == 0)
        return &slots_[i].value;
      i = (i + 1) & mask_;
    }
    return nullptr;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    std::string_view key;
    int32_t value = 0;
    uint32_t tag = 0;  // high hash bits
    bool used = false;
  };
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reserve(old.empty() ? 16 : old.size());
    size_ = 0;
    for (const auto& s : old)
      if (s.used) insert(s.key, s.value);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// (left id, right id) -> (rank, merged id), for BPE merges.
class PairMap {
 public:
  struct Value {
    int32_t rank, merged;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  // Keeps the first value inserted for a key (the lowest rank, as merges are read in order).
  void insert(int32_t a, int32_t b, Value v) {
    if ((size_ + 1) * 2 > slots_.size()) {
      std::vector<Slot> old;
      old.swap(slots_);
      reserve(old.empty() ? 16 : old.size());
      size_ = 0;
      for (const auto& s : old)
        if (s.used) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key), s.value);
    }
    const uint64_t key = pack(a, b);
    size_t i = mix(key) & mask_;
    while (slots_[i].used) {
      if (slots_[i].key == key) return;
      i = (i + 1) & mask_;
    }
    slots_[i] = {key, v, true};
    ++size_;
  }
  const Value* find(int32_t a, int32_t b) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(a, b);
    size_t i = mix(key) & mask_;
    while (slots_[i].used) {
      if (slots_[i].key == key) return &slots_[i].value;
      i = (i + 1) & mask_;
    }
    return nullptr;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    Value value{0, 0};
    bool used = false;
  };
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

}  // namespace kiln::tok
