// Dense matrix multiply, row-major: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
// op(X) is X or X^T. lda/ldb/ldc are row strides in elements of the matrices as stored.
// sgemm/bf16gemm run kiln's own packed kernels for the ISA detected at run time (AVX-512, AVX2 or
// portable C++; KILN_ISA=generic|avx2|avx512 caps the level, see core/cpu_features.h). dgemm, and
// sgemm when KILN_GEMM=openblas, go to OpenBLAS. bench/results/gemm.md has the measurements behind
// this choice. The *_reference functions are plain loops kept beside them so tests can compare.
#pragma once

#include <cstdint>
#include <memory>

namespace kiln::gemm {

template <class T>
struct PackedGemmKernel;
}  // namespace kiln::gemm
namespace kiln {
class Storage;
}
namespace kiln::gemm {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
           const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
           int64_t ldc);

// Always OpenBLAS (whatever kernel OPENBLAS_CORETYPE selected), for comparisons and benchmarks.
void sgemm_openblas(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);

// Which implementation sgemm uses now: "kiln-avx512", "kiln-avx2", "kiln-generic" (own packed
// kernels for active_isa()), or "openblas" when KILN_GEMM=openblas. For manifests and benchmarks.
const char* sgemm_backend();

// Determinism: sgemm (kiln kernels, the default) gives bit-identical C for any
// kiln::set_num_threads value and task split (K is blocked at fixed offsets, threads only split
// M and N, and every element runs the same instruction sequence). OpenBLAS does not guarantee this
// (measured: 1 vs 2 threads differ in the last bits at BERT shapes). Results differ in the last
// bits between ISA levels, from OpenBLAS, and from sgemm_reference (which sums in double). dgemm is
// OpenBLAS.
void sgemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                     int64_t ldc);

// bf16 GEMM for mixed precision: A and B hold bf16 bit patterns (kiln::f32_to_bf16), products
// are accumulated and C is written in f32. Uses AMX tiles (TDPBF16PS) when active_isa() is avx512
// and the CPU has amx_bf16 (and Linux grants the tile state; KILN_BF16_GEMM=avx512 opts out),
// else vdpbf16ps (AVX512_BF16), otherwise widens to f32 and calls sgemm. Same thread-count
// determinism as sgemm; the three paths differ from each other in the last bits. Note that
// vdpbf16ps and TDPBF16PS flush f32 denormals to zero.
void bf16gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
              int64_t ldc);
// bf16gemm with B given in f32: each value is rounded to bf16 (kiln::f32_to_bf16) as B is packed,
// so C has exactly the bits of rounding B into a bf16 copy and calling bf16gemm, without making
// that copy. For the weight of a linear under bf16 autocast (B of its forward and input-gradient
// GEMMs): no bf16 copy of any weight has to be kept alive across a training step (issue 15).
void bf16gemm_f32b(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const uint16_t* a, int64_t lda, const float* b, int64_t ldb, float beta,
                   float* c, int64_t ldc);
void bf16gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);
// "kiln-amx-bf16", "kiln-avx512-bf16" or "convert+sgemm".
const char* bf16gemm_backend();

// op(B) [k, n] packed once into the active kernel's panel layout, for a B that is multiplied many
// times (a weight at inference): sgemm_packed_b then skips packing B, which at BERT shapes with
// 128 rows is ~15% of the GEMM time, and reads A rows in place where the kernel can.
class PackedB {
 public:
  PackedB(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb);
  ~PackedB();
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  size_t bytes() const { return bytes_; }
  // Writes op(B)^T back out as a dense row-major [n, k] matrix (exact: packing only moves values).
  void unpack_transposed(float* dst) const;

 private:
  friend void sgemm_packed_b(bool, int64_t, float, const float*, int64_t, const PackedB&, float,
                             float*, int64_t, const struct Epilogue&);
  const PackedGemmKernel<float>* kern_;
  int64_t k_, n_, n_panels_;
  size_t bytes_;
  std::shared_ptr<Storage> storage_;
  float* data_;  // K block pc starts at pc * kKc * n_panels * nr; panel q at q * nr * kc within
};

// Work fused into sgemm_packed_b on each C tile while it is in L1, instead of separate passes
// over C: with bias, C = alpha op(A) B + bias (beta must be 0); then activation(C) if set; then
// C += residual (row stride ldr). Each step is the same float operation the separate ops do, in
// the same order, so the result has the same bits as linear -> activation -> add. `activation`
// must be elementwise with results independent of where an array starts (see
// kernels::gelu_f32).
struct Epilogue {
  const float* bias = nullptr;
  void (*activation)(const float* x, float* out, int64_t n) = nullptr;
  const float* residual = nullptr;
  int64_t ldr = 0;
};

// C[m, n] = alpha * op(A) B + beta * C with B pre-packed, then the epilogue. Bit-identical to
// sgemm with the same operands (same kernel, same K blocking, same per-element order) on any
// thread count.
void sgemm_packed_b(bool trans_a, int64_t m, float alpha, const float* a, int64_t lda,
                    const PackedB& b, float beta, float* c, int64_t ldc,
                    const Epilogue& epilogue = {});

// Whether a product against a pre-packed weight (f32 or quantized) goes to the thread pool: enough
// flops, or enough weight bytes. With few rows (a decoder's step) the work is reading the weight,
// not the flops: a 768 x 768 f32 weight against one row is 1.2 Mflop but 2.4 MB, and one core
// streams only about half the machine's bandwidth (BERT-base's 72 linears at one row: 17.1 ms
// with the flops rule alone, 10.6 ms with this one).
bool worth_threads_for_weight(double flops, double weight_bytes);

}  // namespace kiln::gemm
