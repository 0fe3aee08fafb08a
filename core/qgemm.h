// Linear layers on quantized weights (core/quant_format.h): y[m, n] = x[m, k] W^T, then the same
// fused epilogue as gemm::sgemm_packed_b (bias, activation, residual).
//
//   int8  the activations are quantized per row, dynamically, to u8 with a zero point; the integer
//         products run on AMX tiles (TDPBUSD, from 9 rows, where the CPU has amx_int8) or AVX-512
//         VNNI (vpdpbusd u8 x s8 -> s32), with an AVX2 path and a portable one, and the zero-point
//         term (zp * sum_k q_w) is precomputed per output row and folded into the tile epilogue: y
//         = s_x * s_w * (dot - zp * colsum) (+ bias ...).
//   q4_0 / q4_1  weights are expanded from nibbles inside the kernel (never to a full f32 copy).
//
// linear_quant_reference is the plain loop kept beside the kernels: for int8 it does the same
// activation quantization and integer dot (so the results are equal); for q4 it dequantizes and
// sums in double. Tests compare the two. Results are bit-identical across thread counts.
//
// Details (core/kernels/qgemm_kernels.h has the layouts and kernel contracts):
//   int8  activation row x -> u8: range [min(x, 0), max(x, 0)] over 255 steps, inv = 1 / scale,
//         zero point rint(-min inv), q = clamp(rint(x inv) + zp, 0, 255), rint = nearest even.
//         Every path gives the reference's bits: y = float(sum_k (q_x - zp) q_w) * (s_x * s_w),
//         then + bias, activation, + residual, each one float operation as in sgemm_packed_b.
//         A row of x holding NaN or +-inf gives NaN in every output of that row. k <= 66000 (the
//         int32 accumulator's range; PackedQuantB and linear_quant_reference throw beyond).
//   q4    m <= 8 rows: a GEMV kernel reading 4.5 / 5 bits per weight. With AVX-512 VNNI and
//         VBMI the activations are quantized per 32-block to s8 and the block dots are exact
//         integers (as llama.cpp's q4_0 x q8_0; linear_q4_q8_reference is its plain loop);
//         otherwise (AVX2, portable) f32 FMAs on the expanded nibbles;
//         more rows: each K block of 256 is dequantized per column strip into the sgemm
//         kernel's packed panels (never a full f32 copy) and run through its micro-kernel.
//         Results agree with the reference to within (k + 8) eps sum_k |x| (|d q'| + |m|) (float
//         sums in another order); non-finite x propagate as IEEE arithmetic does.
//   Epilogue: y + bias, then activation, then + residual, each rounded once, so the result is
//   bit-identical to running linear_quant without an epilogue and then the separate ops.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/gemm.h"
#include "core/quant_format.h"

namespace kiln::quant {

// How q4 products with at most 8 rows treat their activations: kQ8 quantizes them per block to
// s8 where the CPU has the integer kernel (a Linear: a decoder step's rows); kF32 always keeps
// them in f32 (a convolution: its rows come in chunks whose size depends on the image size and
// the engine, and f32 keeps every chunking within float rounding of the others).
enum class Q4FewRows { kQ8, kF32 };

struct QuantLinearOut;

// A quantized weight prepared for the active kernel (repacked, per-row sums precomputed). `data`
// is the canonical layout (n rows of row_bytes(format, k)); it is copied, so the source may be
// released (a model file's pages) afterwards.
class PackedQuantB {
 public:
  PackedQuantB(Format format, int64_t n, int64_t k, const uint8_t* data);
  ~PackedQuantB();
  PackedQuantB(const PackedQuantB&) = delete;
  PackedQuantB& operator=(const PackedQuantB&) = delete;
  Format format() const { return format_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  size_t bytes() const;  // memory held
  // The canonical rows back (for dequantizing, saving, or the reference kernel).
  void unpack(uint8_t* dst) const;

  struct Impl;

 private:
  Format format_;
  int64_t n_, k_;
  std::unique_ptr<Impl> impl_;
  friend void linear_quant(int64_t, const float*, int64_t, const PackedQuantB&, float*, int64_t,
                           const gemm::Epilogue&, Q4FewRows);
  friend void linear_quant_shared_input(int64_t, const float*, int64_t,
                                        const std::vector<QuantLinearOut>&, Q4FewRows);
};

// y [m, n] (row stride ldy) = x [m, k] (row stride ldx) W^T, then the epilogue.
void linear_quant(int64_t m, const float* x, int64_t ldx, const PackedQuantB& w, float* y,
                  int64_t ldy, const gemm::Epilogue& epilogue = {},
                  Q4FewRows few_rows = Q4FewRows::kQ8);
// One of several weights applied to the same x: y [m, w->n()] (row stride ldy), its epilogue.
struct QuantLinearOut {
  const PackedQuantB* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
  gemm::Epilogue epilogue;
};
// Several weights of one format and input size applied to the same x (a layer's query, key and
// value projections): x is quantized once, and all products' column strips are the tasks of one
// parallel region (one pool wake-up instead of one per weight). Each output has the bits
// linear_quant gives it alone.
void linear_quant_shared_input(int64_t m, const float* x, int64_t ldx,
                               const std::vector<QuantLinearOut>& outs,
                               Q4FewRows few_rows = Q4FewRows::kQ8);

// The plain loop on the canonical rows.
void linear_quant_reference(Format format, int64_t m, int64_t n, int64_t k, const float* x,
                            int64_t ldx, const uint8_t* w_rows, float* y, int64_t ldy,
                            const gemm::Epilogue& epilogue = {});

// Which kernel linear_quant uses for a format now (reads active_isa(), so KILN_ISA caps it):
// int8 "amx-int8+avx512-vnni" (AMX tiles from 9 rows, vpdpbusd below), "avx512-vnni", "avx2" or
// "generic"; q4_0/q4_1 "avx512", "avx2" or "generic".
const char* qgemm_backend(Format format);

// The q4 few-row path's arithmetic where the CPU has AVX-512 VNNI and VBMI: activations
// quantized per 32-block to s8 and integer dots (core/kernels/qgemm_kernels.h, Q8Block). The
// kernel gives this loop's bits.
void linear_q4_q8_reference(Format format, int64_t m, int64_t n, int64_t k, const float* x,
                            int64_t ldx, const uint8_t* w_rows, float* y, int64_t ldy,
                            const gemm::Epilogue& epilogue = {});
// Whether linear_quant on q4 weights with m rows (Q4FewRows::kQ8) takes that path now.
bool q4_quantizes_activations(int64_t m);
// For tests and comparisons: false keeps q4 few-row products in f32 (nullptr: the default).
void set_q4_q8_override(const bool* enabled);

// For tests and comparisons: false keeps int8 products off AMX (as KILN_INT8_GEMM=vnni does),
// nullptr restores the default. The pointee must outlive its use.
void set_int8_amx_override(const bool* enabled);

}  // namespace kiln::quant
