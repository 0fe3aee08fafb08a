// Storage: one contiguous block of bytes that tensors view. Either owned (allocated through kiln's
// caching allocator, returned to it on release) or borrowed (e.g. an mmap'd model file, kept alive
// by a shared keep-alive handle so views can outlive the object that opened the file).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln {

enum class Device : uint8_t { CPU, CUDA };

class Storage {
 public:
  // Uninitialised owned memory, 64-byte aligned.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::CPU);
  // Borrowed memory: `keepalive` is held as long as the storage lives (may be null for memory the
  // caller guarantees outlives every view).
  // Borrowed memory is read-only unless `is_writable`: model files are mapped PROT_READ, so an
  // in-place write must be refused with an error, not allowed to fault.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes,
                                       std::shared_ptr<const void> keepalive,
                                       Device device = Device::CPU, bool is_writable = false);
  // Borrowed, read-only pages of a file mapping (a model file): their resident pages can be
  // dropped and are read back from the file if touched again.
  static std::shared_ptr<Storage> wrap_file_mapping(const void* data, size_t nbytes,
                                                    std::shared_ptr<const void> keepalive);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }
  bool writable() const { return owned_ || writable_; }
  bool file_mapped() const { return file_mapped_; }
  // For a file mapping: tells the kernel the whole pages inside [data, data + nbytes) are not
  // needed now, so they leave this process's RSS (used after a model's weights were packed for
  // inference). Contents are unchanged: a later read faults the page back in from the file.
  // No-op for other storages.
  void drop_resident_pages() const;

  // How many in-place writes this storage has had, shared by every view of it. Every kiln op that
  // writes into an existing tensor bumps it (through begin_in_place_write, core/ops.h); autograd
  // records it for each tensor an op saves and refuses to run that backward if it changed (see
  // Node::check_saved_versions, core/autograd.h). Relaxed: it orders nothing, and two threads
  // may write disjoint views of one storage.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // size of the allocator block (owned only)
  Device device_ = Device::CPU;
  bool owned_ = false;
  bool writable_ = false;
  bool file_mapped_ = false;
  std::shared_ptr<const void> keepalive_;
  std::atomic<uint64_t> version_{0};
};

// The caching allocator behind Storage::allocate. Freed blocks are kept in size buckets and reused,
// because first-touching fresh pages costs ~10 µs per 4 KiB here; blocks of 256 KiB and more are
// reused by best fit (the smallest cached block of at most twice the request), and blocks of
// 2 MiB and more ask for transparent huge pages. Exposed for stats and tests.
namespace allocator {
struct Stats {
  size_t bytes_in_use = 0;  // handed out to live storages
  size_t bytes_cached = 0;  // freed, kept for reuse
  size_t peak_bytes_in_use = 0;
  size_t allocations = 0;  // calls that reached the system allocator
  size_t cache_hits = 0;
};
Stats stats();
void release_cached();  // returns every cached block to the system
}  // namespace allocator

}  // namespace kiln
