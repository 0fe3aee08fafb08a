#include "core/gemm.h"

#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/kernels/amx/amx_tiles.h"
#include "core/kernels/bf16_convert.h"
#include "core/kernels/sgemm_kernels.h"
#include "core/storage.h"
#include "core/thread_pool.h"

namespace kiln::gemm {
namespace {

// K is cut into fixed blocks of kKc from k = 0, whatever the thread count or shape of the task
// split: each C element is always sum over block 0, then block 1, ... with the same in-block order,
// which is what makes results bit-identical across thread counts. 256 keeps an 8-row packed A panel
// (8 KiB) in L1 and a 256 x 384 packed B block (384 KiB) in L2.
constexpr int64_t kKc = 256;
// Target width of one task's column strip (a multiple of kNr); a B block is kKc x strip.
constexpr int64_t kStripTarget = 480;
// Task split of sgemm_packed_b (see there).
constexpr int64_t kTasksPerThread = 16;
constexpr int64_t kMinChunkPanels = 4;
constexpr int64_t kFewRows = 128;
// Panels per task when C has one row (sgemm_packed_b with micro_one_row).
constexpr int64_t kOneRowPanels = 12;
// Below this many flops the pool wake-up costs more than a second core saves.
constexpr double kParallelFlops = 4e6;
// ... or, against a pre-packed weight, from this many bytes of it (see worth_threads_for_weight).
constexpr double kParallelWeightBytes = 256 * 1024;

// Per-thread packing buffer, grown on demand and kept: re-touching fresh pages costs ~10 us per
// 4 KiB on this machine, so buffers are reused across calls and large ones ask for huge pages.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(p_); }
  template <class T>
  T* get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (bytes > cap_) {
      std::free(p_);
      cap_ = (std::max(bytes, cap_ * 3 / 2) + 4095) / 4096 * 4096;
      const size_t align = cap_ >= (2u << 20) ? (2u << 20) : 64;
      p_ = std::aligned_alloc(align, (cap_ + align - 1) / align * align);
      if (p_ == nullptr) std::abort();
      if (cap_ >= (2u << 20)) madvise(p_, cap_, MADV_HUGEPAGE);
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local PackBuffer t_apack;
thread_local PackBuffer t_bpack;
thread_local PackBuffer t_bround;  // one B panel rounded to bf16 (bf16gemm_f32b), ~24 KiB

// Packs rows [0, kc) x cols [0, n) of op(B) for the kernel: B already in the kernel's type.
template <class T>
void pack_b_block(const PackedGemmKernel<T>& kern, bool tb, const T* b, int64_t ldb, int64_t kc,
                  int64_t n, T* dst) {
  kern.pack_b(tb, b, ldb, kc, n, dst);
}

// The same for an f32 B and a bf16 kernel (bf16gemm_f32b): each nr-column panel is rounded into a
// small per-thread bf16 block that stays in L1, which the kernel's own pack_b then packs. The
// packed panel holds exactly what packing a bf16 copy of B would (the same f32_to_bf16 rounding,
// then the same routine), so results keep their bits without a whole bf16 copy of B.
void pack_b_block(const Bf16GemmKernel& kern, bool tb, const float* b, int64_t ldb, int64_t kc,
                  int64_t n, uint16_t* dst) {
  const int64_t nr = kern.nr, kcp = (kc + kern.kstep - 1) / kern.kstep * kern.kstep;
  uint16_t* panel = t_bround.get<uint16_t>(kc * nr);
  for (int64_t j0 = 0; j0 < n; j0 += nr, dst += nr * kcp) {
    const int64_t cols = std::min(nr, n - j0);
    if (tb) {
      // op(B)[p][j] = b[j * ldb + p]: cols source rows of kc values -> panel [cols, kc].
      kernels::f32_to_bf16_block(b + j0 * ldb, ldb, cols, kc, panel, kc);
      kern.pack_b(true, panel, kc, kc, cols, dst);
    } else {
      // op(B)[p][j] = b[p * ldb + j]: kc source rows of cols values -> panel [kc, cols].
      kernels::f32_to_bf16_block(b + j0, ldb, kc, cols, panel, cols);
      kern.pack_b(false, panel, cols, kc, cols, dst);
    }
  }
}

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// Whether the kernel can read op(A) rows in place (micro_rows_a) instead of a packed A panel:
// not transposed, and no K block needs padding to the kernel's k step (kKc is a multiple of it).
template <class T>
bool reads_a_rows(const PackedGemmKernel<T>& kern, bool ta, int64_t k) {
  return !ta && kern.micro_rows_a != nullptr && k % kern.kstep == 0;
}

// Blocked driver shared by every ISA's kernel: pack all of op(A) once (or read its rows in place
// where the kernel can), then column strips of C as parallel tasks, each packing its own B block
// per K block and sweeping all of M. B is of the kernel's type T, or f32 for a bf16 kernel
// (rounded while packed, see pack_b_block).
template <class T, class BT = T>
void gemm_packed(const PackedGemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 float alpha, const T* a, int64_t lda, const BT* b, int64_t ldb, float beta,
                 float* c, int64_t ldc) {
  const int64_t kMr = kern.mr, kNr = kern.nr;
  if (k == 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  const int64_t m_panels = (m + kMr - 1) / kMr;
  const int64_t mp = m_panels * kMr;
  const int64_t k_blocks = (k + kKc - 1) / kKc;
  const bool parallel = 2.0 * m * n * k >= kParallelFlops && !in_parallel_region();
  const int threads = parallel ? num_threads() : 1;

  // Phase 1: pack all of op(A) once (block pc starts at pc * kKc * mp; panels of kMr x kc).
  // kKc is a multiple of kstep, so only the last K block gets padded. Skipped when the kernel can
  // read op(A) rows in place (same bits, see micro_rows_a): for the small per-head GEMMs of
  // attention packing A cost as much as a fifth of the multiply.
  const bool rows_a = reads_a_rows(kern, ta, k);
  const int64_t kpad = (k + kern.kstep - 1) / kern.kstep * kern.kstep;
  T* apack = rows_a ? nullptr : t_apack.get<T>(mp * kpad);
  auto pack_a_range = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pc = t / m_panels, ip = t % m_panels;
      const int64_t p0 = pc * kKc, kc = std::min(kKc, k - p0), i0 = ip * kMr;
      const int64_t kcp = (kc + kern.kstep - 1) / kern.kstep * kern.kstep;
      const T* src = ta ? a + p0 * lda + i0 : a + i0 * lda + p0;
      kern.pack_a(ta, src, lda, std::min(kMr, m - i0), kc, apack + p0 * mp + i0 * kcp);
    }
  };
  if (!rows_a) {
    if (threads > 1) {
      parallel_for(0, k_blocks * m_panels, 4, pack_a_range);
    } else {
      pack_a_range(0, k_blocks * m_panels);
    }
  }

  // Phase 2: tasks are column strips of C; each packs its own B block per pc and sweeps its rows.
  // Strips are a multiple of kNr wide, at least `threads` of them where N allows, so two cores get
  // equal halves of the BERT shapes. When N is too narrow for that, rows are split as well.
  const int64_t n_panels = (n + kNr - 1) / kNr;
  int64_t strips = std::max<int64_t>(threads, (n + kStripTarget - 1) / kStripTarget);
  strips = std::min(n_panels, (strips + threads - 1) / threads * threads);
  const int64_t strip_panels = (n_panels + strips - 1) / strips;
  strips = (n_panels + strip_panels - 1) / strip_panels;
  const int64_t row_chunks = std::min(m_panels, (threads + strips - 1) / strips);
  const int64_t chunk_panels = (m_panels + row_chunks - 1) / row_chunks;
  auto run_tasks = [&](int64_t t0, int64_t t1) {
    T* bpack = t_bpack.get<T>(kKc * strip_panels * kNr);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j0 = (t % strips) * strip_panels * kNr;
      const int64_t nw = std::min(strip_panels * kNr, n - j0);
      const int64_t ip0 = (t / strips) * chunk_panels;
      const int64_t ip1 = std::min(m_panels, ip0 + chunk_panels);
      for (int64_t pc = 0; pc < k_blocks; ++pc) {
        const int64_t p0 = pc * kKc, kc = std::min(kKc, k - p0);
        const int64_t kcp = (kc + kern.kstep - 1) / kern.kstep * kern.kstep;
        const BT* src = tb ? b + j0 * ldb + p0 : b + p0 * ldb + j0;
        pack_b_block(kern, tb, src, ldb, kc, nw, bpack);
        const float beff = pc == 0 ? beta : 1.0f;
        // The 8 x kc A panel stays in L1 while it meets every B panel of the block (in L2).
        for (int64_t ip = ip0; ip < ip1; ++ip) {
          const int64_t mr = std::min(kMr, m - ip * kMr);
          float* crow = c + ip * kMr * ldc + j0;
          for (int64_t jq = 0; jq * kNr < nw; ++jq) {
            const T* bp = bpack + jq * kNr * kcp;
            const int64_t nr = std::min(kNr, nw - jq * kNr);
            if (rows_a) {
              kern.micro_rows_a(kc, a + ip * kMr * lda + p0, lda, bp, crow + jq * kNr, ldc, mr, nr,
                                alpha, beff, nullptr);
            } else {
              kern.micro(kcp, apack + p0 * mp + ip * kMr * kcp, bp, crow + jq * kNr, ldc, mr, nr,
                         alpha, beff);
            }
          }
        }
      }
    }
  };
  const int64_t tasks = strips * row_chunks;
  if (threads > 1 && tasks > 1) {
    parallel_for(0, tasks, 1, run_tasks);
  } else {
    run_tasks(0, tasks);
  }
}

// Column-strip width (in panels) for a pre-packed B: at least two strips per thread so the dynamic
// schedule can even out, at most 8 panels (a 256 x 384 block, 384 KiB) so a strip's block stays
// in L2 while every row panel meets it.
int64_t prepacked_strip_panels(int64_t n_panels, int threads) {
  return std::clamp<int64_t>(n_panels / (2 * threads), 1, 8);
}

}  // namespace

bool worth_threads_for_weight(double flops, double weight_bytes) {
  return flops >= kParallelFlops || weight_bytes >= kParallelWeightBytes;
}

namespace {

// Strip width (in panels) when C has at most one row panel: about kOneRowPanels, but with a strip
// count that is a multiple of the thread count, so that no core is left with the short remainder.
// A 768-column weight (16 panels) was 12 + 4 panels: one core did 75% of the work and the
// decoder's many such linears ran at one core's speed.
int64_t few_row_strip_panels(int64_t n_panels, int threads) {
  int64_t strips = (n_panels + kOneRowPanels - 1) / kOneRowPanels;
  strips = (strips + threads - 1) / threads * threads;
  return std::max<int64_t>(1, (n_panels + strips - 1) / strips);
}

// KILN_GEMM=openblas routes sgemm to OpenBLAS (read once). Off by default: OpenBLAS results vary
// with the thread count and its speed depends on OPENBLAS_CORETYPE (see bench/results/gemm.md).
bool use_openblas() {
  static const bool v = [] {
    const char* env = std::getenv("KILN_GEMM");
    return env != nullptr && std::strcmp(env, "openblas") == 0;
  }();
  return v;
}

const SgemmKernel& active_kernel() {
  switch (active_isa()) {
    case IsaLevel::kAvx512:
      return avx512::sgemm_kernel();
    case IsaLevel::kAvx2:
      return avx2::sgemm_kernel();
    case IsaLevel::kGeneric:
      break;
  }
  return generic::sgemm_kernel();
}

}  // namespace

PackedB::PackedB(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb)
    : kern_(&active_kernel()), k_(k), n_(n) {
  const int64_t nr = kern_->nr;
  n_panels_ = (n + nr - 1) / nr;
  bytes_ = static_cast<size_t>(std::max<int64_t>(1, k * n_panels_ * nr)) * sizeof(float);
  // From kiln's caching allocator: when a model packs its layers one by one and releases each
  // row-major weight (nn::Module::pack_for_inference), the next layer's pack reuses that block,
  // so packing a model needs about one layer of extra memory, not a second copy.
  storage_ = Storage::allocate(bytes_);
  data_ = static_cast<float*>(storage_->data());
  for (int64_t p0 = 0; p0 < k; p0 += kKc) {
    const int64_t kc = std::min(kKc, k - p0);
    kern_->pack_b(trans_b, trans_b ? b + p0 : b + p0 * ldb, ldb, kc, n,
                  data_ + p0 * n_panels_ * nr);
  }
}

PackedB::~PackedB() = default;

void PackedB::unpack_transposed(float* dst) const {
  const int64_t nr = kern_->nr;
  for (int64_t p0 = 0; p0 < k_; p0 += kKc) {
    const int64_t kc = std::min(kKc, k_ - p0);
    const float* block = data_ + p0 * n_panels_ * nr;
    for (int64_t j = 0; j < n_; ++j) {
      const float* panel = block + (j / nr) * nr * kc + j % nr;
      for (int64_t p = 0; p < kc; ++p) dst[j * k_ + p0 + p] = panel[p * nr];
    }
  }
}

void sgemm_packed_b(bool ta, int64_t m, float alpha, const float* a, int64_t lda, const PackedB& b,
                    float beta, float* c, int64_t ldc, const Epilogue& ep) {
  const PackedGemmKernel<float>& kern = *b.kern_;
  const int64_t n = b.n_, k = b.k_, kMr = kern.mr, kNr = kern.nr;
  if (m == 0 || n == 0) return;
  if (ep.bias != nullptr) {
    if (beta != 0.0f) throw std::invalid_argument("sgemm_packed_b: a bias needs beta == 0");
    beta = 1.0f;  // the tile is pre-filled with the bias (below), then accumulated onto
  }
  // Bias fill before the first K block; activation and residual after the last one.
  auto fill_bias = [&](float* ct, int64_t rows, int64_t j0, int64_t cols) {
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(ct + i * ldc, ep.bias + j0, cols * sizeof(float));
  };
  auto finish = [&](float* ct, int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
    for (int64_t i = 0; i < rows; ++i) {
      float* row = ct + i * ldc;
      if (ep.activation != nullptr) ep.activation(row, row, cols);
      if (ep.residual != nullptr) {
        const float* r = ep.residual + (i0 + i) * ep.ldr + j0;
        for (int64_t j = 0; j < cols; ++j) row[j] += r[j];
      }
    }
  };
  const bool has_finish = ep.activation != nullptr || ep.residual != nullptr;
  if (k == 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    for (int64_t i = 0; i < m; ++i) {
      if (ep.bias != nullptr) fill_bias(c + i * ldc, 1, 0, n);
      if (has_finish) finish(c + i * ldc, i, 1, 0, n);
    }
    return;
  }
  const int64_t m_panels = (m + kMr - 1) / kMr;
  const bool parallel =
      worth_threads_for_weight(2.0 * m * n * k, 4.0 * n * k) && !in_parallel_region();
  const int threads = parallel ? num_threads() : 1;
  // Up to kFewRows rows: each task is one 48-column weight panel against all rows, so every weight
  // byte comes from DRAM once and meets every row while in L1/L2, and the many equal tasks even
  // out the cores (BERT-base linears at 128 rows, cold weights: 62.5-64.3 ms vs 67.1-69.3 with
  // the split below; equal at 256 rows, worse from 512).
  const bool few_rows = m <= kFewRows;
  // One row (a decoder's step): tasks of kOneRowPanels panels, each swept by micro_one_row, which
  // keeps several panels' accumulators in flight (same bits as `micro`).
  const bool rows_a = reads_a_rows(kern, ta, k);
  const bool one_row = m == 1 && kern.micro_one_row != nullptr;
  // At most one row panel (a decoder step, a few beams): each weight panel is read once from
  // memory (TileExtras::stream_b), in strips sized as for one row.
  const bool stream_b = m <= kMr;
  const int64_t strip_panels = stream_b   ? few_row_strip_panels(b.n_panels_, threads)
                               : few_rows ? 1
                                          : prepacked_strip_panels(b.n_panels_, threads);
  const int64_t strips = (b.n_panels_ + strip_panels - 1) / strip_panels;
  // Otherwise rows are cut into chunks too, for about kTasksPerThread tasks per thread, but no
  // chunk under kMinChunkPanels row panels. Measured on the BERT-base linears (1024 rows, cold
  // weights): 2 tasks per thread 507-528 ms, 8: 480-491, 16: 467-469 (bench/results/bert.md).
  // Smaller tasks even out the two cores' finishing times, and a chunk's C block (e.g. 128 x 192)
  // stays in L2 across the K blocks instead of going back to L3 after every one.
  const int64_t row_chunks =
      few_rows ? 1
               : std::clamp<int64_t>((kTasksPerThread * threads + strips - 1) / strips, 1,
                                     std::max<int64_t>(1, m_panels / kMinChunkPanels));
  const int64_t chunk_panels = (m_panels + row_chunks - 1) / row_chunks;
  // Reading A in place needs rows contiguous along k; otherwise each task packs its own row panel
  // (8 x kc, stays in L1) before meeting the strip's B panels.
  auto run_tasks = [&](int64_t t0, int64_t t1) {
    float* apanel = rows_a ? nullptr : t_apack.get<float>(kMr * kKc);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t q0 = (t % strips) * strip_panels;
      const int64_t q1 = std::min(b.n_panels_, q0 + strip_panels);
      const int64_t ip0 = (t / strips) * chunk_panels;
      const int64_t ip1 = std::min(m_panels, ip0 + chunk_panels);
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kc = std::min(kKc, k - p0);
        const float* block = b.data_ + p0 * b.n_panels_ * kNr;
        const float beff = p0 == 0 ? beta : 1.0f;
        for (int64_t ip = ip0; ip < ip1; ++ip) {
          const int64_t i0 = ip * kMr, mr = std::min(kMr, m - i0);
          const float* arow = a + i0 * lda + p0;
          if (!rows_a) kern.pack_a(ta, ta ? a + p0 * lda + i0 : arow, lda, mr, kc, apanel);
          float* crow = c + i0 * ldc;
          const bool first = p0 == 0, last = p0 + kKc >= k;
          if (one_row) {
            const int64_t j0 = q0 * kNr, cols = std::min(q1 * kNr, n) - j0;
            const float* bp = block + q0 * kNr * kc;
            if (rows_a) {
              // As the rows_a tiles below: bias and (without an activation) the residual go into
              // the store.
              gemm::TileExtras extras;
              if (first) extras.bias = ep.bias != nullptr ? ep.bias + j0 : nullptr;
              if (last && ep.activation == nullptr && ep.residual != nullptr) {
                extras.residual = ep.residual + j0;
                extras.ldr = ep.ldr;
              }
              kern.micro_one_row(kc, arow, 1, bp, kNr * kc, q1 - q0, crow + j0, cols, alpha, beff,
                                 &extras);
            } else {
              if (first && ep.bias != nullptr) fill_bias(crow + j0, 1, j0, cols);
              kern.micro_one_row(kc, apanel, kMr, bp, kNr * kc, q1 - q0, crow + j0, cols, alpha,
                                 beff, nullptr);
            }
          }
          for (int64_t q = one_row ? q1 : q0; q < q1; ++q) {
            const int64_t j0 = q * kNr, nr = std::min(kNr, n - j0);
            const float* bp = block + q * kNr * kc;
            if (rows_a) {
              // Bias and (without an activation) the residual go into the tile store.
              gemm::TileExtras extras;
              extras.stream_b = stream_b;
              if (first) extras.bias = ep.bias != nullptr ? ep.bias + j0 : nullptr;
              if (last && ep.activation == nullptr && ep.residual != nullptr) {
                extras.residual = ep.residual + i0 * ep.ldr + j0;
                extras.ldr = ep.ldr;
              }
              kern.micro_rows_a(kc, arow, lda, bp, crow + j0, ldc, mr, nr, alpha, beff, &extras);
            } else {
              if (first && ep.bias != nullptr) fill_bias(crow + j0, mr, j0, nr);
              kern.micro(kc, apanel, bp, crow + j0, ldc, mr, nr, alpha, beff);
            }
          }
          // The rest of the epilogue once per row panel and strip (rows of up to 384 columns, still
          // in L1/L2) rather than per 48-column tile: 8x fewer activation calls, about 3 ms less
          // over the 12 FFN-up GEMMs at 1024 rows.
          if (last && (rows_a ? ep.activation != nullptr : has_finish)) {
            const int64_t j0 = q0 * kNr;
            finish(crow + j0, i0, mr, j0, std::min(n, q1 * kNr) - j0);
          }
        }
      }
    }
  };
  const int64_t tasks = strips * row_chunks;
  if (threads > 1 && tasks > 1) {
    parallel_for(0, tasks, 1, run_tasks);
  } else {
    run_tasks(0, tasks);
  }
}

const char* sgemm_backend() {
  if (use_openblas()) return "openblas";
  switch (active_isa()) {
    case IsaLevel::kAvx512:
      return "kiln-avx512";
    case IsaLevel::kAvx2:
      return "kiln-avx2";
    case IsaLevel::kGeneric:
      break;
  }
  return "kiln-generic";
}

void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (use_openblas()) {
    sgemm_openblas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gemm_packed(active_kernel(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sgemm_openblas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace {

// AMX tiles when the CPU has them and the kernel grants the tile state; KILN_BF16_GEMM=avx512
// keeps the vdpbf16ps kernel (for comparisons).
bool use_amx() {
  static const bool v = [] {
    const char* env = std::getenv("KILN_BF16_GEMM");
    const bool vetoed = env != nullptr && std::strcmp(env, "avx512") == 0;
    const CpuFeatures& f = cpu_features();
    return !vetoed && f.amx_tile && f.amx_bf16 && f.avx512_bf16 && amx::amx_usable();
  }();
  return v && active_isa() >= IsaLevel::kAvx512;
}

// Runs the product on the fastest bf16 kernel this CPU has (AMX tiles, else vdpbf16ps); false
// where it has neither. B is bf16, or f32 rounded to bf16 while it is packed.
template <class BT>
bool bf16gemm_on_kernel(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const uint16_t* a, int64_t lda, const BT* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  if (use_amx()) {
    gemm_packed(amx::bf16_kernel(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return true;
  }
  if (active_isa() >= IsaLevel::kAvx512 && cpu_features().avx512_bf16) {
    gemm_packed(avx512::bf16_kernel(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return true;
  }
  return false;
}

}  // namespace

const char* bf16gemm_backend() {
  if (use_amx()) return "kiln-amx-bf16";
  return active_isa() >= IsaLevel::kAvx512 && cpu_features().avx512_bf16 ? "kiln-avx512-bf16"
                                                                         : "convert+sgemm";
}

void bf16gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
              int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (bf16gemm_on_kernel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  // No vdpbf16ps: widen to f32 (exact) into compact copies and use sgemm, which keeps the
  // thread-count determinism guarantee.
  auto widen = [](const uint16_t* src, int64_t rows, int64_t cols, int64_t ld) {
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = bf16_to_f32(src[i * ld + j]);
    }
    return out;
  };
  const std::vector<float> af = ta ? widen(a, k, m, lda) : widen(a, m, k, lda);
  const std::vector<float> bf = tb ? widen(b, n, k, ldb) : widen(b, k, n, ldb);
  sgemm(ta, tb, m, n, k, alpha, af.data(), ta ? m : k, bf.data(), tb ? k : n, beta, c, ldc);
}

void bf16gemm_f32b(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const uint16_t* a, int64_t lda, const float* b, int64_t ldb, float beta,
                   float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (bf16gemm_on_kernel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  // Without a bf16 kernel: a rounded copy of op(B) and the widening path above (same bits).
  const int64_t rows = tb ? n : k, cols = tb ? k : n;
  std::vector<uint16_t> rounded(static_cast<size_t>(rows * cols));
  if (rows > 0 && cols > 0) kernels::f32_to_bf16_matrix(b, ldb, rows, cols, rounded.data());
  bf16gemm(ta, tb, m, n, k, alpha, a, lda, rounded.data(), std::max<int64_t>(cols, 1), beta, c,
           ldc);
}

void bf16gemm_reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = bf16_to_f32(ta ? a[p * lda + i] : a[i * lda + p]);
        const float bv = bf16_to_f32(tb ? b[j * ldb + p] : b[p * ldb + j]);
        acc += static_cast<double>(av) * bv;
      }
      const float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(alpha * acc) + prev;
    }
  }
}

void dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sgemm_reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                     int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = ta ? a[p * lda + i] : a[i * lda + p];
        const float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += static_cast<double>(av) * bv;
      }
      const float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(alpha * acc) + prev;
    }
  }
}

}  // namespace kiln::gemm
