// sgemm building blocks per ISA level: packing routines + one register-blocked micro-kernel each.
// The blocking/parallel driver is core/gemm.cpp; it only calls avx2::/avx512:: kernels after
// checking active_isa(). Each implementation file is compiled with its ISA's flags.
//
// Layouts (row-major C = op(A) op(B)), for a kernel with tile mr x nr:
//   packed A: panels of mr rows; panel p holds op(A)[p*mr + r][k] at [k * mr + r], rows past m
//             zero-filled, so the micro-kernel needs no row mask on its inputs.
//   packed B: panels of nr columns; panel q holds op(B)[k][q*nr + c] at [k * nr + c], columns
//             past n zero-filled.
// Micro-kernel contract: c[0:rows, 0:cols] = alpha * (Ap Bp) + beta * c (c not read when
// beta == 0), summing k in ascending order into one accumulator per element. Every element goes
// through the same instruction sequence whatever rows/cols are (edges use masks, not another
// code path), so results never depend on where tile or task boundaries fall.
#pragma once

#include <cstdint>

namespace kiln::gemm {

// T is the packed element type (float, or uint16_t bf16 bits). kstep > 1 means k is packed in
// groups of kstep consecutive values per row/column (bf16: pairs, as vdpbf16ps consumes them):
// panel p then holds op(A)[p*mr + r][kg*kstep + e] at [(kg * mr + r) * kstep + e], likewise for B,
// and k is zero-padded to a multiple of kstep.
// Per-call additions folded into the C-tile store of micro_rows_a, so the driver needs no separate
// pass over the tile (gemm::Epilogue uses them). `bias` (a row of `cols` floats for this tile):
// the old C is taken to be bias[j] on every row instead of being read (beta must be 1), i.e.
// C = alpha * acc + bias: the first K block of a linear layer. `residual` (rows `ldr` apart):
// added after that, C = (alpha * acc + beta * old) + residual: the last K block. Each is the same
// single float operation the separate passes perform, so results keep their bits.
// `stream_b`: the whole product has at most mr rows (a decoder step over a few beams), so each B
// panel is read once, straight from memory: the kernel then prefetches B ahead and skips the FMAs
// of absent rows. It changes no result bits.
struct TileExtras {
  const float* bias = nullptr;
  const float* residual = nullptr;
  int64_t ldr = 0;
  bool stream_b = false;
};

template <class T>
struct PackedGemmKernel {
  int64_t mr, nr, kstep;
  // Packs rows [0, m) x cols [0, kc) of op(A); `a` points at op(A)[0][0].
  void (*pack_a)(bool trans_a, const T* a, int64_t lda, int64_t m, int64_t kc, T* dst);
  // Packs rows [0, kc) x cols [0, n) of op(B); `b` points at op(B)[0][0].
  void (*pack_b)(bool trans_b, const T* b, int64_t ldb, int64_t kc, int64_t n, T* dst);
  // kc is the padded depth (a multiple of kstep).
  void (*micro)(int64_t kc, const T* ap, const T* bp, float* c, int64_t ldc, int64_t rows,
                int64_t cols, float alpha, float beta);
  // Optional (may be null): the same micro-kernel reading A unpacked, straight from op(A) rows
  // that are contiguous along k (`a` points at op(A)[row0][k0], rows `lda` apart). Rows past
  // `rows` re-read the last valid row and are not stored. Same instruction sequence per element as
  // `micro`, so results are bit-identical. Used with a pre-packed B (gemm::PackedB), where packing
  // A would be the only packing left. `extras` may be null (see TileExtras).
  void (*micro_rows_a)(int64_t kc, const T* a, int64_t lda, const T* bp, float* c, int64_t ldc,
                       int64_t rows, int64_t cols, float alpha, float beta,
                       const TileExtras* extras);
  // Optional (may be null): one row of op(A) times `panels` consecutive B panels (`panel_stride`
  // elements apart) into c[0, cols). The row's k-th value is a[k * a_step] (a packed A panel:
  // a_step = mr; the row in place: 1). Each element gets exactly the instruction sequence `micro`
  // / `micro_rows_a` give it (ascending-k FMAs into one accumulator, the same store, `extras` as
  // there with bias/residual covering c[0, cols)), so the bits are the same; working on several
  // panels at once hides the FMA latency a lone 1-row tile is bound by (m = 1: a decoder step).
  void (*micro_one_row)(int64_t kc, const T* a, int64_t a_step, const T* bp, int64_t panel_stride,
                        int64_t panels, float* c, int64_t cols, float alpha, float beta,
                        const TileExtras* extras);
};
using SgemmKernel = PackedGemmKernel<float>;
using Bf16GemmKernel = PackedGemmKernel<uint16_t>;

// 8 x 48: 24 zmm accumulators + 3 B vectors; A is broadcast from memory, so a k step issues
// 3 vector loads + 8 broadcasts for 24 FMAs.
namespace avx512 {
const SgemmKernel& sgemm_kernel();
// bf16 x bf16 -> f32, 8 x 48 tile with vdpbf16ps (needs avx512_bf16 as well).
const Bf16GemmKernel& bf16_kernel();
}  // namespace avx512
// bf16 x bf16 -> f32 on AMX tiles (TDPBF16PS), 16 x 48 tile, k in steps of 32 (needs amx_bf16
// and amx_usable() from core/kernels/amx/amx_tiles.h: the tile state granted to the process).
namespace amx {
const Bf16GemmKernel& bf16_kernel();
}  // namespace amx
// 6 x 16: 12 ymm accumulators + 2 B vectors + 1 broadcast.
namespace avx2 {
const SgemmKernel& sgemm_kernel();
}
// Plain C++ 4 x 8 tile for CPUs without AVX2 (baseline x86-64 / other architectures).
namespace generic {
const SgemmKernel& sgemm_kernel();
}

}  // namespace kiln::gemm
