// Error-compensating 4-bit rounding from calibration data (GPTQ: Frantar, Ashkboos, Hoefler and
// Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
// ICLR 2023). Plain rounding treats every weight alone. GPTQ rounds the columns of a weight one
// after another and, after each, moves the columns not yet rounded so that the layer's outputs
// on the calibration inputs change as little as possible: with H = X^T X of the inputs X the layer
// saw, it minimises sum over rows of (w - w_q) H (w - w_q)^T one column at a time, which is
// (x . (w - w_q))^2 summed over the calibration rows x.
//
// Blocks: a q4 block's scale (and q4_1 minimum) is chosen as quantize_rows chooses it, from the
// block's values as they stand when its first column is reached (after the earlier blocks' errors
// moved them); its columns are then coded against it in order. The bytes are ordinary q4_0/q4_1
// rows: loading and kernels do not know GPTQ was used.
//
// Damping: H + damp * mean(diag H) * I, as the paper's reference implementation does (1% by
// default). An input that was zero on every calibration row (diag H = 0) gets H_ii = 1: its
// weights are rounded plainly and kept, not zeroed (the reference zeroes them, which is exact only
// if that input stays zero in use). With H diagonal no error moves, and the result is
// quantize_rows' bytes exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "core/quant_format.h"

namespace kiln::quant {

// The sum of x^T x over every row x a layer saw (k inputs), in f64: H up to a factor.
class InputGram {
 public:
  explicit InputGram(int64_t k);
  // Adds `rows` rows of k floats, row stride ldx.
  void add(const float* x, int64_t rows, int64_t ldx);
  int64_t k() const { return k_; }
  int64_t rows() const { return rows_; }
  // Row-major k x k.
  const std::vector<double>& sum() const { return sum_; }

 private:
  int64_t k_;
  int64_t rows_ = 0;
  std::vector<double> sum_;
  std::vector<float> chunk_;  // x^T x of one add() in f32 (kiln's sgemm)
};

struct GptqOptions {
  double damp = 0.01;  // fraction of mean(diag H) added to the diagonal
};

// Rows of w [n, k] (row stride ldw) as n canonical rows of format f (q4_0 or q4_1, n *
// row_bytes(f, k) bytes into dst). Rows are independent and split over threads: the bytes do not
// depend on the thread count. Errors (a kiln::Error): a non-4-bit format, a gram of another k, a
// non-finite weight, a damped H that is not positive definite.
void gptq_quantize_rows(Format f, const float* w, int64_t n, int64_t k, int64_t ldw,
                        const InputGram& gram, const GptqOptions& options, uint8_t* dst);

// The same by the textbook update, plain loops in f64: H^-1 by Gauss-Jordan, and after each column
// the rounded column removed from H^-1 (H^-1 -= H^-1[:, i] H^-1[i, :] / H^-1[i, i]). O(n k^3): for
// tests, which hold the fast path (a Cholesky factor, O(k^3 + n k^2)) to it.
void gptq_quantize_rows_reference(Format f, const float* w, int64_t n, int64_t k, int64_t ldw,
                                  const InputGram& gram, const GptqOptions& options, uint8_t* dst);

}  // namespace kiln::quant
