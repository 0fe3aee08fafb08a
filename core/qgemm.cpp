#include "core/qgemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/kernels/amx/amx_tiles.h"
#include "core/kernels/qgemm_kernels.h"
#include "core/kernels/sgemm_kernels.h"
#include "core/thread_pool.h"

namespace kiln::quant {
namespace {

using kernels::kPanelCols;
using kernels::kQ4Block;

// Activation elements from which quantizing the rows of x is split over threads as well: BERT-base
// at 8 x 128 tokens (1024 x 768 = 786k) and one sequence (128 x 768 = 98k) split, a decoder step
// (one row) does not. At 1 << 20 the 8 x 128 forward quantized on one thread while the other
// waited: 7% of its samples were quantize_row (perf, bench/results/quant_speed.md). At 1 << 19
// the 1 x 128 forward did the same (4.3% of its samples); splitting it too: 28.0 -> 27.2 ms, mean
// of 4 alternating pairs on an idle host, within its +-1 ms noise (the pool is awake for the GEMM
// that follows anyway, so the split costs no extra wake-up).
constexpr int64_t kParallelQuantElems = 1 << 16;
// At most this many rows go through the q4 GEMV kernel (weights expanded in registers per row
// block); more rows amortize dequantizing a K block to f32 for the sgemm micro-kernel.
constexpr int64_t kQ4GemvRows = 8;
// The f32 path's K block, fixed from k = 0 (as core/gemm.cpp's kKc): results do not depend on
// the thread count. A multiple of 32 so a K block is whole q4 blocks.
constexpr int64_t kKc = 256;

void check_shape(const char* who, Format format, int64_t m, int64_t n, int64_t k) {
  KILN_CHECK(m >= 0 && n >= 0 && k >= 0, who, ": negative shape m=", m, " n=", n, " k=", k);
  KILN_CHECK(format != Format::Int8 || k <= kernels::kMaxInt8K, who, ": int8 weights with k=", k,
             " exceed the ", kernels::kMaxInt8K, " inputs the int32 accumulator allows");
}

// bias, activation, residual on one finished output row, as sgemm_packed_b's epilogue does them.
void finish_row_reference(float* y, int64_t i, int64_t n, const gemm::Epilogue& ep) {
  if (ep.bias != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = y[j] + ep.bias[j];
  }
  if (ep.activation != nullptr) ep.activation(y, y, n);
  if (ep.residual != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = y[j] + ep.residual[i * ep.ldr + j];
  }
}

// 64-byte aligned bytes (vector loads of a panel never straddle more lines than needed).
struct AlignedBytes {
  uint8_t* p = nullptr;
  size_t size = 0;
  explicit AlignedBytes(size_t n) : size(n) {
    p = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(64, (n + 63) / 64 * 64)));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, n);
  }
  ~AlignedBytes() { std::free(p); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
};

// Grown on demand and kept per thread, like core/gemm.cpp's packing buffers.
template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}
thread_local std::vector<uint8_t> t_xq;
thread_local std::vector<kernels::ActQuant> t_aq;
thread_local std::vector<float> t_xpad, t_xsum, t_bpack, t_apack;
thread_local std::vector<int8_t> t_xq8;
thread_local std::vector<kernels::Q8Block> t_q8blocks;

bool use_vnni() {
  return active_isa() >= IsaLevel::kAvx512 && cpu_features().avx512_vnni;
}

// The int8 AMX kernel runs products of more than this many rows; fewer rows (a decoder step) are
// bound by reading the weights, which the vector kernels do as fast.
constexpr int64_t kAmxMinRows = 9;
const bool* g_amx_override = nullptr;

// AMX tiles when the CPU has amx_int8 and the kernel grants the tile state; KILN_INT8_GEMM=vnni
// keeps the vector kernel (for comparisons), as does set_int8_amx_override.
bool use_amx_int8() {
  static const bool available = [] {
    const char* env = std::getenv("KILN_INT8_GEMM");
    const bool vetoed = env != nullptr && std::strcmp(env, "vnni") == 0;
    const CpuFeatures& f = cpu_features();
    return !vetoed && f.amx_tile && f.amx_int8 && f.avx512_vnni && gemm::amx::amx_usable();
  }();
  const bool wanted = g_amx_override == nullptr || *g_amx_override;
  return available && wanted && use_vnni();
}

const kernels::Int8Kernel& int8_kernel(int64_t m) {
  if (m >= kAmxMinRows && use_amx_int8()) return kernels::amx::int8_kernel();
  if (use_vnni()) return kernels::avx512::int8_kernel();
  if (active_isa() >= IsaLevel::kAvx2) return kernels::avx2::int8_kernel();
  return kernels::generic::int8_kernel();
}

// The q4 x q8 few-row kernel (activations in s8 per block, integer dots) where the CPU has
// AVX-512 VNNI and VBMI; elsewhere, or with KILN_Q4_GEMV=f32 (for comparisons), the f32 GEMV.
const bool* g_q4_q8_override = nullptr;
bool use_q4_q8() {
  static const bool vetoed = [] {
    const char* env = std::getenv("KILN_Q4_GEMV");
    return env != nullptr && std::strcmp(env, "f32") == 0;
  }();
  const bool wanted = g_q4_q8_override == nullptr ? !vetoed : *g_q4_q8_override;
  return wanted && use_vnni() && cpu_features().avx512_vbmi;
}

const kernels::Q4Kernel& q4_kernel() {
  if (active_isa() >= IsaLevel::kAvx512) return kernels::avx512::q4_kernel();
  if (active_isa() >= IsaLevel::kAvx2) return kernels::avx2::q4_kernel();
  return kernels::generic::q4_kernel();
}

const gemm::SgemmKernel& sgemm_kernel() {
  switch (active_isa()) {
    case IsaLevel::kAvx512:
      return gemm::avx512::sgemm_kernel();
    case IsaLevel::kAvx2:
      return gemm::avx2::sgemm_kernel();
    case IsaLevel::kGeneric:
      break;
  }
  return gemm::generic::sgemm_kernel();
}

// Runs tasks [0, count) on the pool when `parallel`, else inline. Tasks write disjoint outputs.
void run_tasks(bool parallel, int64_t count, const std::function<void(int64_t, int64_t)>& fn) {
  if (parallel && count > 1) {
    parallel_for(0, count, 1, fn);
  } else {
    fn(0, count);
  }
}

// Panels on the busiest thread when strips of `width` panels (the last one shorter) are dealt to
// `threads` threads in turn, as the pool's small chunks come out on an even machine.
// Counted per thread, not per strip: a decoder step's LM head has 3,142 panels, and walking its
// strips for every candidate width was 1.8% of a q4 BART step (perf).
int64_t busiest_thread_panels(int64_t n_panels, int64_t width, int threads) {
  const int64_t strips = (n_panels + width - 1) / width;
  const int64_t last_short = strips * width - n_panels;  // panels the last strip lacks
  int64_t busiest = 0;
  for (int64_t t = 0; t < threads && t < strips; ++t) {
    int64_t load = (strips - t + threads - 1) / threads * width;
    if ((strips - 1) % threads == t) load -= last_short;
    busiest = std::max(busiest, load);
  }
  return busiest;
}

// Work split over threads, M and N only: column strips of `strip_panels` 16-column panels (at
// least two per thread where N allows, at most max_strip, a multiple of `multiple` when more than
// that), and row chunks of whole row_align blocks when there are too few strips to go round.
// Among the allowed widths the one that loads the busiest thread least wins (the widest on a
// tie): BERT-base's 768-column int8 layers were 6 strips of 9, 9, 9, 9, 9, 3 panels, 27 on one
// core and 21 on the other; strips of 6 give 24 and 24.
struct Split {
  int64_t strip_panels, strips, row_chunks, chunk_rows;
};
Split split_work(int64_t m, int64_t n_panels, int threads, int64_t row_align, int64_t max_strip,
                 int64_t multiple = 1) {
  Split s;
  int64_t widest = std::clamp<int64_t>(n_panels / (2 * threads), 1, max_strip);
  const int64_t step = widest > multiple ? multiple : 1;
  widest = widest / step * step;
  s.strip_panels = widest;
  for (int64_t w = widest - step, best = busiest_thread_panels(n_panels, widest, threads); w >= 1;
       w -= step) {
    const int64_t load = busiest_thread_panels(n_panels, w, threads);
    if (load < best) {
      best = load;
      s.strip_panels = w;
    }
  }
  s.strips = (n_panels + s.strip_panels - 1) / s.strip_panels;
  const int64_t row_blocks = (m + row_align - 1) / row_align;
  s.row_chunks = std::min(row_blocks, (threads + s.strips - 1) / s.strips);
  s.row_chunks = std::max<int64_t>(1, s.row_chunks);
  s.chunk_rows = (row_blocks + s.row_chunks - 1) / s.row_chunks * row_align;
  return s;
}

// Activation then residual on rows [i0, i1) x columns [j0, j0 + cols) (the tiles stored y + bias
// already).
void finish_strip(float* y, int64_t ldy, int64_t i0, int64_t i1, int64_t j0, int64_t cols,
                  const gemm::Epilogue& ep) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = y + i * ldy + j0;
    ep.activation(row, row, cols);
    if (ep.residual != nullptr) {
      const float* res = ep.residual + i * ep.ldr + j0;
      for (int64_t j = 0; j < cols; ++j) row[j] = row[j] + res[j];
    }
  }
}

}  // namespace

struct PackedQuantB::Impl {
  int64_t kgroups = 0, kblocks = 0, n_panels = 0;
  int64_t stride = 0;                    // int8: bytes per panel (whole AMX chunks)
  std::unique_ptr<AlignedBytes> panels;  // int8 or q4 packed layout (qgemm_kernels.h)
  std::vector<int32_t> wsum;             // int8: sum_k q_w per weight row (padded to panels)
  std::vector<float> wscale;             // int8: per-row scale (padded to panels)
};

PackedQuantB::PackedQuantB(Format format, int64_t n, int64_t k, const uint8_t* data)
    : format_(format), n_(n), k_(k), impl_(std::make_unique<Impl>()) {
  check_shape("PackedQuantB", format, 0, n, k);
  Impl& im = *impl_;
  const size_t rb = row_bytes(format, k);
  im.n_panels = (n + kPanelCols - 1) / kPanelCols;
  if (format == Format::Int8) {
    im.kgroups = (k + 3) / 4;
    im.stride = (im.kgroups + kernels::kChunkGroups - 1) / kernels::kChunkGroups *
                kernels::kChunkGroups * 64;
    im.panels = std::make_unique<AlignedBytes>(im.n_panels * im.stride);
    im.wsum.assign(im.n_panels * kPanelCols, 0);
    im.wscale.assign(im.n_panels * kPanelCols, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const uint8_t* row = data + j * rb;
      uint8_t* dst = im.panels->p + (j / kPanelCols) * im.stride + (j % kPanelCols) * 4;
      int32_t sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        dst[(p / 4) * 64 + p % 4] = row[p];
        sum += static_cast<int8_t>(row[p]);
      }
      im.wsum[j] = sum;
      std::memcpy(&im.wscale[j], row + k, sizeof(float));
    }
    return;
  }
  im.kblocks = (k + kQ4Block - 1) / kQ4Block;
  const bool q41 = format == Format::Q4_1;
  const int64_t bb = kernels::q4_panel_block_bytes(format),
                src_bb = block_traits(format).block_bytes;
  im.panels = std::make_unique<AlignedBytes>(im.n_panels * im.kblocks * bb);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t r = j % kPanelCols;
    for (int64_t b = 0; b < im.kblocks; ++b) {
      const uint8_t* src = data + j * rb + b * src_bb;
      uint8_t* blk = im.panels->p + ((j / kPanelCols) * im.kblocks + b) * bb;
      std::memcpy(blk + 2 * r, src, 2);
      if (q41) std::memcpy(blk + 32 + 2 * r, src + 2, 2);
      const uint8_t* qs = src + (q41 ? 4 : 2);
      for (int64_t t = 0; t < 16; ++t) blk[(q41 ? 64 : 32) + t * 16 + r] = qs[t];
    }
  }
}

PackedQuantB::~PackedQuantB() = default;

size_t PackedQuantB::bytes() const {
  return impl_->panels->size + impl_->wsum.size() * sizeof(int32_t) +
         impl_->wscale.size() * sizeof(float);
}

void PackedQuantB::unpack(uint8_t* dst) const {
  const Impl& im = *impl_;
  const size_t rb = row_bytes(format_, k_);
  if (format_ == Format::Int8) {
    for (int64_t j = 0; j < n_; ++j) {
      const uint8_t* src = im.panels->p + (j / kPanelCols) * im.stride + (j % kPanelCols) * 4;
      uint8_t* row = dst + j * rb;
      for (int64_t p = 0; p < k_; ++p) row[p] = src[(p / 4) * 64 + p % 4];
      std::memcpy(row + k_, &im.wscale[j], sizeof(float));
    }
    return;
  }
  const bool q41 = format_ == Format::Q4_1;
  const int64_t bb = kernels::q4_panel_block_bytes(format_),
                dst_bb = block_traits(format_).block_bytes;
  for (int64_t j = 0; j < n_; ++j) {
    const int64_t r = j % kPanelCols;
    for (int64_t b = 0; b < im.kblocks; ++b) {
      const uint8_t* blk = im.panels->p + ((j / kPanelCols) * im.kblocks + b) * bb;
      uint8_t* out = dst + j * rb + b * dst_bb;
      std::memcpy(out, blk + 2 * r, 2);
      if (q41) std::memcpy(out + 2, blk + 32 + 2 * r, 2);
      uint8_t* qs = out + (q41 ? 4 : 2);
      for (int64_t t = 0; t < 16; ++t) qs[t] = blk[(q41 ? 64 : 32) + t * 16 + r];
    }
  }
}

namespace {

// One weight of a call that may apply several to the same x (linear_quant_shared_input), and its
// share of the call's tasks.
struct Product {
  const PackedQuantB* w;
  const PackedQuantB::Impl* im;
  float* y;
  int64_t ldy;
  const gemm::Epilogue* ep;
  Split s{};
  int64_t first_task = 0;
};

// Whether a call's products are worth the pool, on their total work and weight bytes.
bool worth_threads(int64_t m, const std::vector<Product>& ps) {
  double flops = 0, bytes = 0;
  for (const Product& p : ps) {
    flops += 2.0 * m * p.w->n() * p.w->k();
    bytes += static_cast<double>(p.w->bytes());
  }
  return !in_parallel_region() && gemm::worth_threads_for_weight(flops, bytes);
}

// Deals each product's strips a range of task numbers; returns the total.
template <typename SplitFn>
int64_t number_tasks(std::vector<Product>& ps, SplitFn split) {
  int64_t tasks = 0;
  for (Product& p : ps) {
    p.s = split(*p.im);
    p.first_task = tasks;
    tasks += p.s.strips * p.s.row_chunks;
  }
  return tasks;
}

// What task number `task` computes: its product, column strip (panels [q0, q1), columns
// [j0, j0 + cols)) and row chunk.
struct StripTask {
  const Product& p;
  int64_t q0, q1, j0, cols, row_chunk;
};
StripTask strip_task(const std::vector<Product>& ps, int64_t task) {
  size_t i = ps.size() - 1;
  while (ps[i].first_task > task) --i;
  const Product& p = ps[i];
  const int64_t t = task - p.first_task;
  const int64_t q0 = (t % p.s.strips) * p.s.strip_panels;
  const int64_t q1 = std::min(p.im->n_panels, q0 + p.s.strip_panels);
  const int64_t j0 = q0 * kPanelCols;
  return {p, q0, q1, j0, std::min(p.w->n(), q1 * kPanelCols) - j0, t / p.s.strips};
}

// All products share x, so x is quantized once; all products' strips are tasks of one parallel
// region. Each product's bits are those of a call on its own (the same kernel calls per strip).
void linear_int8(int64_t m, const float* x, int64_t ldx, std::vector<Product>& products) {
  const kernels::Int8Kernel& kern = int8_kernel(m);
  const bool amx = kern.row_block > 8;
  // Rows of quantized activations are whole AMX chunks long (the padding's weights are zero, so
  // any bytes there add nothing), and there are whole 16-row tiles of them.
  const PackedQuantB::Impl& im0 = *products[0].im;
  const int64_t k = products[0].w->k(), kp = im0.stride / kPanelCols, kp4 = im0.kgroups * 4;
  const int64_t m_pad = (m + 15) / 16 * 16;
  const bool parallel = worth_threads(m, products);
  const int threads = parallel ? num_threads() : 1;
  // Activations to u8, row by row (independent rows: any split gives the same bytes).
  // 64-byte aligned: with kp a multiple of 64 every AMX tile row is then one cache line.
  uint8_t* xq = scratch(t_xq, static_cast<size_t>(m_pad * kp + 64));
  xq += (64 - reinterpret_cast<uintptr_t>(xq) % 64) % 64;
  kernels::ActQuant* aq = scratch(t_aq, static_cast<size_t>(m));
  // Split only when large: each parallel_for costs a pool wake-up, and at 128 x 768 quantizing
  // (~30 us) is cheaper than that under load.
  run_tasks(parallel && m * k >= kParallelQuantElems, m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      aq[i] = kern.quantize_row(x + i * ldx, k, xq + i * kp);
      std::memset(xq + i * kp + kp4, aq[i].zp, static_cast<size_t>(kp - kp4));
    }
  });
  std::memset(xq + m * kp, 0, static_cast<size_t>((m_pad - m) * kp));
  // With many rows, strips of whole 3-panel micro-tile groups (see below); on AMX, of whole
  // 2-panel (32-column) blocks, at most 8 panels: a strip's weights (8 x 16 x 3072 bytes at most
  // at BERT-base) stay in L2 while the row blocks pass over them.
  const int64_t tasks = number_tasks(products, [&](const PackedQuantB::Impl& im) {
    return amx ? split_work(m, im.n_panels, threads, kern.row_block, 8, 2)
               : split_work(m, im.n_panels, threads, 8, m > 8 ? 9 : 8, m > 8 ? 3 : 1);
  });
  run_tasks(parallel, tasks, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const StripTask st = strip_task(products, task);
      const PackedQuantB::Impl& im = *st.p.im;
      const gemm::Epilogue& ep = *st.p.ep;
      float* y = st.p.y;
      const int64_t n = st.p.w->n(), ldy = st.p.ldy, q0 = st.q0, q1 = st.q1, j0 = st.j0,
                    cols = st.cols;
      const bool fused_residual = ep.activation == nullptr;
      const int64_t i0 = st.row_chunk * st.p.s.chunk_rows, i1 = std::min(m, i0 + st.p.s.chunk_rows);
      // With many rows, groups of 3 panels (one 8 x 48 micro-tile wide) meet every row panel of
      // the chunk in turn, so the group's weights stay in L1/L2 while activations stream; with
      // few rows the kernel takes the whole strip at once (its 1-2 row tiles span 8 panels).
      // Measured 5-30% faster at M = 128 and 1024 than row panels outermost (interleaved A/B,
      // 1 thread, loaded machine). AMX takes the whole strip per 32-row block (its A tiles are
      // reloaded per 2-panel block, and the strip's weights stay in L2).
      const int64_t group = m > 8 && !amx ? 3 : q1 - q0;
      for (int64_t qg = q0; qg < q1; qg += group) {
        const int64_t qe = std::min(q1, qg + group);
        const int64_t jg = qg * kPanelCols, gcols = std::min(n, qe * kPanelCols) - jg;
        for (int64_t ib = i0; ib < i1; ib += kern.row_block) {
          const int64_t rows = std::min<int64_t>(kern.row_block, i1 - ib);
          const float* res =
              fused_residual && ep.residual != nullptr ? ep.residual + ib * ep.ldr + jg : nullptr;
          kern.tile(im.kgroups, xq + ib * kp, kp, aq + ib, rows,
                    reinterpret_cast<const int8_t*>(im.panels->p) + qg * im.stride, im.stride,
                    qe - qg, im.wsum.data() + jg, im.wscale.data() + jg,
                    ep.bias != nullptr ? ep.bias + jg : nullptr, res, ep.ldr, y + ib * ldy + jg,
                    ldy, gcols);
          // On AMX a call covers the strip's columns for its rows: the activation runs while
          // they are still in L1. Run over the whole strip afterwards (rows 12 KB apart at
          // BERT-base's 3,072 columns), GELU waited on loads for half its time (perf, 8 x 128).
          if (amx && !fused_residual) finish_strip(y, ldy, ib, ib + rows, jg, gcols, ep);
        }
      }
      if (!amx && !fused_residual) finish_strip(y, ldy, i0, i1, j0, cols, ep);
    }
  });
}

// A few rows: the GEMV kernel on x rows copied into zero-padded blocks.
void linear_q4_gemv(int64_t m, const float* x, int64_t ldx, std::vector<Product>& products,
                    bool parallel, bool q8) {
  const kernels::Q4Kernel& kern = q4_kernel();
  const PackedQuantB& w = *products[0].w;
  const PackedQuantB::Impl& im0 = *products[0].im;
  const int64_t k = w.k(), kpad = im0.kblocks * kQ4Block;
  float* xpad = scratch(t_xpad, static_cast<size_t>(m * kpad));
  float* xsum = scratch(t_xsum, static_cast<size_t>(std::max<int64_t>(1, m * im0.kblocks)));
  for (int64_t i = 0; i < m; ++i) {
    float* row = xpad + i * kpad;
    std::memcpy(row, x + i * ldx, k * sizeof(float));
    std::fill(row + k, row + kpad, 0.0f);
    if (w.format() != Format::Q4_1) continue;  // only q4_1's minimums need the block sums
    for (int64_t b = 0; b < im0.kblocks; ++b) {
      float sum = 0.0f;
      for (int64_t e = 0; e < kQ4Block; ++e) sum += row[b * kQ4Block + e];
      xsum[i * im0.kblocks + b] = sum;
    }
  }
  int8_t* xq = nullptr;
  kernels::Q8Block* qb = nullptr;
  if (q8) {
    xq = scratch(t_xq8, static_cast<size_t>(m * kpad));
    qb = scratch(t_q8blocks, static_cast<size_t>(m * im0.kblocks));
    kernels::avx512::quantize_q8_rows(xpad, kpad, m, im0.kblocks, xq, kpad, qb);
  }
  const int threads = parallel ? num_threads() : 1;
  // Strips of whole groups of the panels the few-row kernels read side by side (4 for one row,
  // 2 for 2-4 rows): a remainder panel runs alone, one weight stream and one dependency chain per
  // block, at a third of the speed per byte (perf, q4 BART step: the LM head's 3,142 panels in
  // strips of 6 spent 20% of the step in that one-panel path). Walking a strip panel by panel
  // with split accumulators, as the int8 one-row kernel does, measured 40% slower here.
  const int64_t tasks = number_tasks(products, [&](const PackedQuantB::Impl& im) {
    return split_work(1, im.n_panels, threads, 1, 8, m == 1 ? 4 : m <= 4 ? 2 : 1);
  });
  const int64_t stride = im0.kblocks * kernels::q4_panel_block_bytes(w.format());
  run_tasks(parallel, tasks, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const StripTask st = strip_task(products, task);
      const gemm::Epilogue& ep = *st.p.ep;
      float* y = st.p.y;
      const int64_t ldy = st.p.ldy, q0 = st.q0, q1 = st.q1, j0 = st.j0, cols = st.cols;
      const bool fused_residual = ep.activation == nullptr;
      const float* res = fused_residual && ep.residual != nullptr ? ep.residual + j0 : nullptr;
      const float* bias = ep.bias != nullptr ? ep.bias + j0 : nullptr;
      if (q8) {
        kernels::avx512::q4_q8_tile()(w.format(), im0.kblocks, xq, kpad, qb, xsum, m,
                                      st.p.im->panels->p + q0 * stride, q1 - q0, bias, res, ep.ldr,
                                      y + j0, ldy, cols);
      } else {
        kern.tile(w.format(), im0.kblocks, xpad, kpad, xsum, m, st.p.im->panels->p + q0 * stride,
                  q1 - q0, bias, res, ep.ldr, y + j0, ldy, cols);
      }
      if (!fused_residual) finish_strip(y, ldy, 0, m, j0, cols, ep);
    }
  });
}

// Many rows: per column strip and K block, the q4 weights are dequantized into the active sgemm
// kernel's packed-B layout and multiplied with its micro-kernel, so the bulk of the work runs at
// the f32 GEMM's speed while no full f32 copy of the weight ever exists. The bias is added after
// the last K block (y + bias, as the reference), then activation and residual.
void linear_q4_blocked(int64_t m, const float* x, int64_t ldx, const PackedQuantB& w,
                       const PackedQuantB::Impl& im, float* y, int64_t ldy,
                       const gemm::Epilogue& ep, bool parallel) {
  const kernels::Q4Kernel& qk = q4_kernel();
  const gemm::SgemmKernel& kern = sgemm_kernel();
  const int64_t n = w.n(), k = w.k(), kMr = kern.mr, kNr = kern.nr;
  const int64_t stride = im.kblocks * kernels::q4_panel_block_bytes(w.format());
  const int threads = parallel ? num_threads() : 1;
  // Strips are whole sgemm panels and whole 16-row q4 panels.
  const int64_t unit = std::lcm(kNr, kPanelCols);
  const int64_t units = (n + unit - 1) / unit;
  const Split s = split_work(m, units, threads, kMr, std::max<int64_t>(1, 384 / unit));
  const bool direct = kNr % kPanelCols == 0;  // dequantize straight into the packed panels
  const bool rows_a = kern.micro_rows_a != nullptr;
  run_tasks(parallel, s.strips * s.row_chunks, [&](int64_t t0, int64_t t1) {
    const int64_t strip_cols = s.strip_panels * unit;
    float* bpack = scratch(t_bpack, static_cast<size_t>(kKc * strip_cols * 2));
    float* tmp = bpack + kKc * strip_cols;  // [16 rows][kc] staging when !direct
    float* apanel = rows_a ? nullptr : scratch(t_apack, static_cast<size_t>(kMr * kKc));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j0 = (t % s.strips) * strip_cols;
      if (j0 >= n) continue;
      const int64_t nw = std::min(strip_cols, n - j0);
      const int64_t i0 = (t / s.strips) * s.chunk_rows, i1 = std::min(m, i0 + s.chunk_rows);
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kc = std::min(kKc, k - p0);
        for (int64_t c = 0; c < nw; c += kPanelCols) {
          const uint8_t* src = im.panels->p + ((j0 + c) / kPanelCols) * stride +
                               (p0 / kQ4Block) * kernels::q4_panel_block_bytes(w.format());
          if (direct) {
            qk.dequant(w.format(), src, kc, bpack + (c / kNr) * kNr * kc + c % kNr, kNr);
          } else {
            qk.dequant(w.format(), src, kc, tmp, kPanelCols);  // [kc][16]
            // Scatter into the kernel's narrower panels (an exact move).
            for (int64_t e = 0; e < kc; ++e) {
              for (int64_t r = 0; r < kPanelCols; ++r) {
                const int64_t col = c + r;
                bpack[(col / kNr) * kNr * kc + e * kNr + col % kNr] = tmp[e * kPanelCols + r];
              }
            }
          }
        }
        const float beta = p0 == 0 ? 0.0f : 1.0f;
        for (int64_t ib = i0; ib < i1; ib += kMr) {
          const int64_t mr = std::min(kMr, i1 - ib);
          const float* arow = x + ib * ldx + p0;
          if (!rows_a) kern.pack_a(false, arow, ldx, mr, kc, apanel);
          for (int64_t jq = 0; jq * kNr < nw; ++jq) {
            const int64_t nr = std::min(kNr, nw - jq * kNr);
            float* c = y + ib * ldy + j0 + jq * kNr;
            const float* bp = bpack + jq * kNr * kc;
            if (rows_a) {
              kern.micro_rows_a(kc, arow, ldx, bp, c, ldy, mr, nr, 1.0f, beta, nullptr);
            } else {
              kern.micro(kc, apanel, bp, c, ldy, mr, nr, 1.0f, beta);
            }
          }
        }
      }
      for (int64_t i = i0; i < i1; ++i) {
        float* row = y + i * ldy + j0;
        if (ep.bias != nullptr) {
          for (int64_t j = 0; j < nw; ++j) row[j] = row[j] + ep.bias[j0 + j];
        }
      }
      if (ep.activation != nullptr) {
        finish_strip(y, ldy, i0, i1, j0, nw, ep);
      } else if (ep.residual != nullptr) {
        for (int64_t i = i0; i < i1; ++i) {
          float* row = y + i * ldy + j0;
          const float* res = ep.residual + i * ep.ldr + j0;
          for (int64_t j = 0; j < nw; ++j) row[j] = row[j] + res[j];
        }
      }
    }
  });
}

// Checks one output of a call (`who` names the call); with nothing to multiply (k == 0) writes
// the empty sum, y = 0, then the epilogue (as the reference); otherwise adds its product.
void add_product(const char* who, int64_t m, const PackedQuantB& w, const PackedQuantB::Impl* im,
                 float* y, int64_t ldy, const gemm::Epilogue& ep, std::vector<Product>& products) {
  check_shape(who, w.format(), m, w.n(), w.k());
  if (m == 0 || w.n() == 0) return;
  if (w.k() > 0) {
    products.push_back({&w, im, y, ldy, &ep});
    return;
  }
  for (int64_t i = 0; i < m; ++i) {
    std::fill(y + i * ldy, y + i * ldy + w.n(), 0.0f);
    finish_row_reference(y + i * ldy, i, w.n(), ep);
  }
}

// Products of one format and one k on the same x, none empty.
void run_products(int64_t m, const float* x, int64_t ldx, std::vector<Product>& products,
                  Q4FewRows few_rows) {
  const Format format = products[0].w->format();
  if (format == Format::Int8) {
    linear_int8(m, x, ldx, products);
    return;
  }
  const bool parallel = worth_threads(m, products);
  if (m <= kQ4GemvRows) {
    linear_q4_gemv(m, x, ldx, products, parallel, few_rows == Q4FewRows::kQ8 && use_q4_q8());
    return;
  }
  // Many rows: nothing to share (x is not quantized), one product after another.
  for (const Product& p : products)
    linear_q4_blocked(m, x, ldx, *p.w, *p.im, p.y, p.ldy, *p.ep, parallel);
}

}  // namespace

void linear_quant(int64_t m, const float* x, int64_t ldx, const PackedQuantB& w, float* y,
                  int64_t ldy, const gemm::Epilogue& epilogue, Q4FewRows few_rows) {
  std::vector<Product> products;
  add_product("linear_quant", m, w, w.impl_.get(), y, ldy, epilogue, products);
  if (!products.empty()) run_products(m, x, ldx, products, few_rows);
}

void linear_quant_shared_input(int64_t m, const float* x, int64_t ldx,
                               const std::vector<QuantLinearOut>& outs, Q4FewRows few_rows) {
  KILN_CHECK(!outs.empty(), "linear_quant_shared_input: no weights given");
  const PackedQuantB& w0 = *outs[0].w;
  std::vector<Product> products;
  for (const QuantLinearOut& o : outs) {
    KILN_CHECK(o.w != nullptr && o.w->format() == w0.format() && o.w->k() == w0.k(),
               "linear_quant_shared_input: every weight must have the first one's format (",
               format_name(w0.format()), ") and input size (", w0.k(), ")");
    add_product("linear_quant_shared_input", m, *o.w, o.w->impl_.get(), o.y, o.ldy, o.epilogue,
                products);
  }
  if (!products.empty()) run_products(m, x, ldx, products, few_rows);
}

void linear_quant_reference(Format format, int64_t m, int64_t n, int64_t k, const float* x,
                            int64_t ldx, const uint8_t* w_rows, float* y, int64_t ldy,
                            const gemm::Epilogue& epilogue) {
  check_shape("linear_quant_reference", format, m, n, k);
  const size_t rb = row_bytes(format, k);
  if (format == Format::Int8) {
    std::vector<uint8_t> xq(static_cast<size_t>((k + 3) / 4 * 4));
    for (int64_t i = 0; i < m; ++i) {
      const kernels::ActQuant aq = kernels::quantize_act_row_plain(x + i * ldx, k, xq.data());
      float* yrow = y + i * ldy;
      for (int64_t j = 0; j < n; ++j) {
        const uint8_t* wr = w_rows + j * rb;
        int32_t acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += (static_cast<int32_t>(xq[p]) - aq.zp) * static_cast<int8_t>(wr[p]);
        }
        float ws;
        std::memcpy(&ws, wr + k, sizeof(float));
        yrow[j] = kernels::int8_dequant(acc, aq.scale, ws);
      }
      finish_row_reference(yrow, i, n, epilogue);
    }
    return;
  }
  std::vector<float> wf(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    dequantize_rows(format, w_rows + j * rb, 1, k, wf.data(), k);
    for (int64_t i = 0; i < m; ++i) {
      const float* xr = x + i * ldx;
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += static_cast<double>(xr[p]) * wf[p];
      y[i * ldy + j] = static_cast<float>(acc);
    }
  }
  for (int64_t i = 0; i < m; ++i) finish_row_reference(y + i * ldy, i, n, epilogue);
}

void set_int8_amx_override(const bool* enabled) {
  g_amx_override = enabled;
}

void linear_q4_q8_reference(Format format, int64_t m, int64_t n, int64_t k, const float* x,
                            int64_t ldx, const uint8_t* w_rows, float* y, int64_t ldy,
                            const gemm::Epilogue& epilogue) {
  check_shape("linear_q4_q8_reference", format, m, n, k);
  KILN_CHECK(format != Format::Int8, "linear_q4_q8_reference: q4 formats only");
  const bool q41 = format == Format::Q4_1;
  const size_t rb = row_bytes(format, k);
  const int64_t kblocks = (k + kQ4Block - 1) / kQ4Block, kpad = kblocks * kQ4Block;
  const int64_t src_bb = block_traits(format).block_bytes;
  std::vector<float> xpad(static_cast<size_t>(kpad)), xsum(static_cast<size_t>(kblocks));
  std::vector<int8_t> xq(static_cast<size_t>(kpad));
  std::vector<kernels::Q8Block> qb(static_cast<size_t>(kblocks));
  for (int64_t i = 0; i < m; ++i) {
    std::copy(x + i * ldx, x + i * ldx + k, xpad.begin());
    for (int64_t b = 0; b < kblocks; ++b) {
      float sum = 0.0f;
      for (int64_t e = 0; e < kQ4Block; ++e) sum += xpad[b * kQ4Block + e];
      xsum[b] = sum;
    }
    kernels::quantize_q8_row_plain(xpad.data(), kblocks, xq.data(), qb.data());
    float* yrow = y + i * ldy;
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t b = 0; b < kblocks; ++b) {
        const uint8_t* blk = w_rows + j * rb + b * src_bb;
        uint16_t dh, mh = 0;
        std::memcpy(&dh, blk, 2);
        if (q41) std::memcpy(&mh, blk + 2, 2);
        const uint8_t* qs = blk + (q41 ? 4 : 2);
        int32_t dot = 0;
        for (int64_t t = 0; t < 16; ++t) {
          dot += (qs[t] & 0x0F) * xq[b * kQ4Block + t] + (qs[t] >> 4) * xq[b * kQ4Block + t + 16];
        }
        if (!q41) dot -= 8 * qb[b].sum;
        const float tb = static_cast<float>(dot) * qb[b].scale;
        acc = std::fma(f16_to_f32(dh), tb, acc);
        if (q41) acc = std::fma(f16_to_f32(mh), xsum[b], acc);
      }
      yrow[j] = acc;
    }
    finish_row_reference(yrow, i, n, epilogue);
  }
}

bool q4_quantizes_activations(int64_t m) {
  return m <= kQ4GemvRows && use_q4_q8();
}

void set_q4_q8_override(const bool* enabled) {
  g_q4_q8_override = enabled;
}

const char* qgemm_backend(Format format) {
  if (format == Format::Int8) {
    if (use_amx_int8()) return "amx-int8+avx512-vnni";
    if (use_vnni()) return "avx512-vnni";
    return active_isa() >= IsaLevel::kAvx2 ? "avx2" : "generic";
  }
  if (use_q4_q8()) return "avx512-q8 (<= 8 rows), avx512";
  if (active_isa() >= IsaLevel::kAvx512) return "avx512";
  return active_isa() >= IsaLevel::kAvx2 ? "avx2" : "generic";
}

}  // namespace kiln::quant
