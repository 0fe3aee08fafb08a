// Byte-pair encoding: a word starts as one symbol per character (per byte for byte-level BPE);
// the adjacent pair with the lowest merge rank is merged, leftmost first on ties, until no pair
// has a rank. This is the order Hugging Face's BPE uses, so ids match exactly.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <queue>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace {

std::atomic<uint64_t> next_model_serial{1};

// Per-thread memo of word -> tokens. Real text repeats words constantly, and a thread-local table
// needs no locking when batches are encoded on the thread pool. Keyed by model serial so two
// tokenizers never share entries. Open addressing over one byte arena and one token pool: a hit
// costs one hash, usually one probe and one memcmp, and filling it allocates nothing per word.
class WordCache {
 public:
  uint64_t owner = 0;
  uint64_t last_use = 0;

  void clear() {
    slots_.assign(kSlots, Slot{});
    keys_.clear();
    pool_.clear();
    size_ = 0;
  }
  // Appends the cached tokens of `word` to out and returns true, or returns false.
  bool lookup(std::string_view word, uint64_t h, std::vector<ModelToken>& out) const {
    if (slots_.empty()) return false;
    for (size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      if (s.count == 0) return false;
      if (s.hash == h && s.key_len == word.size() &&
          std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
        out.insert(out.end(), pool_.begin() + s.tok_off, pool_.begin() + s.tok_off + s.count);
        return true;
      }
    }
  }
  void store(std::string_view word, uint64_t h, const ModelToken* toks, size_t n) {
    if (n == 0) return;
    if (slots_.empty() || size_ * 2 >= kSlots) clear();
    size_t i = h & (kSlots - 1);
    while (slots_[i].count != 0) i = (i + 1) & (kSlots - 1);
    slots_[i] = {h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(word.size()),
                 static_cast<uint32_t>(pool_.size()), static_cast<uint32_t>(n)};
    keys_.append(word);
    pool_.insert(pool_.end(), toks, toks + n);
    ++size_;
  }

 private:
  static constexpr size_t kSlots = 1 << 17;
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, key_len = 0, tok_off = 0, count = 0;  // count 0: empty slot
  };
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<ModelToken> pool_;
  size_t size_ = 0;
};
constexpr size_t kCachedWordMaxBytes = 96;
constexpr int kCachesPerThread = 4;

class Bpe : public Model {
 public:
  Bpe(std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, const BpeOptions& options)
      : options_(options), serial_(next_model_serial++) {
    vocab_.build(std::move(vocab), "BPE vocab");
    if (options_.unk_token) {
      const int32_t* unk = vocab_.find(*options_.unk_token);
      KILN_CHECK(unk, "BPE: unk_token '", *options_.unk_token, "' is not in the vocabulary");
      unk_id_ = *unk;
    }
    const std::string& prefix = options_.continuing_subword_prefix;
    merges_.reserve(merges.size());
    std::string merged;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const int32_t* ia = vocab_.find(a);
      const int32_t* ib = vocab_.find(b);
      KILN_CHECK(ia, "BPE merges[", rank, "]: token '", a, "' is not in the vocabulary");
      KILN_CHECK(ib, "BPE merges[", rank, "]: token '", b, "' is not in the vocabulary");
      merged = a;
      if (!prefix.empty() && b.compare(0, prefix.size(), prefix) == 0) {
        merged.append(b, prefix.size());
      } else {
        merged += b;
      }
      const int32_t* im = vocab_.find(merged);
      KILN_CHECK(im, "BPE merges[", rank, "]: merged token '", merged,
                 "' is not in the vocabulary");
      merges_.insert(*ia, *ib, {static_cast<int32_t>(rank), *im});
    }
    if (options_.byte_level) {
      std::string s;
      for (int b = 0; b < 256; ++b) {
        s.clear();
        append_byte_level(s, std::string_view(reinterpret_cast<const char*>(&b), 1));
        const int32_t* id = vocab_.find(s);
        byte_ids_[b] = id ? *id : -1;
      }
    }
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    if (word.empty()) return;
    if (word.size() > kCachedWordMaxBytes) {
      merge_word(word, out);
      return;
    }
    WordCache& cache = cache_for_this_thread();
    const uint64_t h = hash_bytes(word);
    if (cache.lookup(word, h, out)) return;
    const size_t first = out.size();
    merge_word(word, out);
    cache.store(word, h, out.data() + first, out.size() - first);
  }

  const Vocab& vocab() const override { return vocab_; }
  std::string type() const override { return "BPE"; }

 private:
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    uint32_t begin, end;
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, pos, merged;
    bool operator<(const Candidate& o) const {  // std::priority_queue pops the largest
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };

  WordCache& cache_for_this_thread() const {
    thread_local WordCache caches[kCachesPerThread];
    thread_local uint64_t clock = 0;
    ++clock;
    WordCache* victim = &caches[0];
    for (auto& c : caches) {
      if (c.owner == serial_) {
        c.last_use = clock;
        return c;
      }
      if (c.last_use < victim->last_use) victim = &c;
    }
    victim->owner = serial_;
    victim->clear();
    victim->last_use = clock;
    return *victim;
  }

  void initial_symbols(std::string_view word, std::vector<Symbol>& syms) const {
    const uint32_t n = static_cast<uint32_t>(word.size());
    auto push = [&](int32_t id, uint32_t b, uint32_t e) {
      syms.push_back({id, b, e, static_cast<int32_t>(syms.size()) - 1, -1});
    };
    if (options_.byte_level) {
      for (uint32_t i = 0; i < n; ++i) {
        const int32_t id = byte_ids_[static_cast<unsigned char>(word[i])];
        if (id >= 0) {
          push(id, i, i + 1);
        } else {
          push_unknown(syms, i, i + 1);
        }
      }
    } else {
      std::string piece;
      size_t i = 0;
      while (i < n) {
        const size_t start = i;
        i += utf8_length(static_cast<unsigned char>(word[i]));
        piece.clear();
        if (start > 0) piece += options_.continuing_subword_prefix;
        piece.append(word.substr(start, i - start));
        if (i == n) piece += options_.end_of_word_suffix;
        if (const int32_t* id = vocab_.find(piece)) {
          push(*id, static_cast<uint32_t>(start), static_cast<uint32_t>(i));
          continue;
        }
        if (options_.byte_fallback &&
            push_byte_fallback(word.substr(start, i - start), syms, static_cast<uint32_t>(start))) {
          continue;
        }
        push_unknown(syms, static_cast<uint32_t>(start), static_cast<uint32_t>(i));
      }
    }
    for (size_t k = 0; k < syms.size(); ++k) {
      syms[k].prev = static_cast<int32_t>(k) - 1;
      syms[k].next = k + 1 < syms.size() ? static_cast<int32_t>(k) + 1 : -1;
    }
  }

  void push_unknown(std::vector<Symbol>& syms, uint32_t b, uint32_t e) const {
    if (unk_id_ < 0) return;  // no unknown token: the character is dropped, as in Hugging Face
    if (options_.fuse_unk && !syms.empty() && syms.back().id == unk_id_ && syms.back().end == b) {
      syms.back().end = e;
      return;
    }
    syms.push_back({unk_id_, b, e, 0, 0});
  }

  bool push_byte_fallback(std::string_view chr, std::vector<Symbol>& syms, uint32_t at) const {
    int32_t ids[4];
    for (size_t k = 0; k < chr.size(); ++k) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(chr[k]));
      const int32_t* id = vocab_.find(name);
      if (!id) return false;
      ids[k] = *id;
    }
    for (size_t k = 0; k < chr.size(); ++k) {
      const uint32_t b = at + static_cast<uint32_t>(k);
      syms.push_back({ids[k], b, b + 1, 0, 0});
    }
    return true;
  }

  void merge_word(std::string_view word, std::vector<ModelToken>& out) const {
    if (options_.ignore_merges) {
      if (const int32_t* id = vocab_.find(word)) {
        out.push_back({*id, 0, static_cast<uint32_t>(word.size())});
        return;
      }
    }
    thread_local std::vector<Symbol> syms;
    thread_local std::vector<Candidate> heap_storage;
    syms.clear();
    initial_symbols(word, syms);
    if (syms.size() > 1) {
      heap_storage.clear();
      std::priority_queue<Candidate> heap(std::less<Candidate>(), std::move(heap_storage));
      auto consider = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = syms[left].next;
        if (right < 0) return;
        if (const PairMap::Value* v = merges_.find(syms[left].id, syms[right].id))
          heap.push({v->rank, left, v->merged});
      };
      for (size_t k = 0; k + 1 < syms.size(); ++k) consider(static_cast<int32_t>(k));
      while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& left = syms[c.pos];
        if (left.id < 0 || left.next < 0) continue;
        Symbol& right = syms[left.next];
        const PairMap::Value* v = merges_.find(left.id, right.id);
        if (!v || v->rank != c.rank || v->merged != c.merged) continue;  // stale entry
        left.id = c.merged;
        left.end = right.end;
        left.next = right.next;
        if (right.next >= 0) syms[right.next].prev = c.pos;
        right.id = -1;
        consider(left.prev);
        consider(c.pos);
      }
    }
    for (size_t k = 0; k < syms.size();) {
      out.push_back({syms[k].id, syms[k].begin, syms[k].end});
      if (syms[k].next < 0) break;
      k = static_cast<size_t>(syms[k].next);
    }
  }

  BpeOptions options_;
  Vocab vocab_;
  PairMap merges_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256] = {};
  uint64_t serial_;
};

}  // namespace

std::unique_ptr<Model> make_bpe(std::vector<std::pair<std::string, int32_t>> vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                const BpeOptions& options) {
  return std::make_unique<Bpe>(std::move(vocab), merges, options);
}

}  // namespace kiln::tok
