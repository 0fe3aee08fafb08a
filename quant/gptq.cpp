#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/gemm.h"
#include "core/thread_pool.h"

namespace kiln::quant {
namespace {

constexpr int64_t kBlock = 32;  // q4 block length along k

void check_args(const char* who, Format f, int64_t n, int64_t k, const InputGram& gram,
                const GptqOptions& options) {
  KILN_CHECK(f == Format::Q4_0 || f == Format::Q4_1, who,
             ": GPTQ rounding is for q4_0 and q4_1, not ", format_name(f));
  KILN_CHECK(n >= 0 && k >= 0, who, ": negative shape n=", n, " k=", k);
  KILN_CHECK(gram.k() == k, who, ": the calibration inputs have ", gram.k(),
             " features, the weight ", k, " columns");
  KILN_CHECK(options.damp >= 0 && std::isfinite(options.damp), who,
             ": damping must be a finite fraction >= 0, got ", options.damp);
}

// H + damp * mean(diag H) * I, with H_ii = 1 where no calibration row reached input i.
std::vector<double> damped_gram(const InputGram& gram, double damp) {
  const int64_t k = gram.k();
  std::vector<double> h = gram.sum();
  double mean = 0;
  for (int64_t i = 0; i < k; ++i) {
    double& d = h[static_cast<size_t>(i * k + i)];
    if (d == 0) d = 1;
    mean += d;
  }
  mean = k > 0 ? mean / static_cast<double>(k) : 0;
  for (int64_t i = 0; i < k; ++i) h[static_cast<size_t>(i * k + i)] += damp * mean;
  return h;
}

void check_finite_row(const float* w, int64_t k, int64_t row) {
  for (int64_t p = 0; p < k; ++p)
    KILN_CHECK(std::isfinite(w[p]), "GPTQ: weight row ", row, " has a non-finite value (", w[p],
               ") at column ", p);
}

// sum a[i] b[i] over [0, n) in 8 fixed lanes: vectorises, and sums in the same order every time.
double dot_lanes(const double* a, const double* b, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
  double s = 0;
  for (double v : lane) s += v;
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// a (k x k, row-major, symmetric) -> its lower Cholesky factor L (a = L L^T), in place, upper
// part zeroed. False when a is not positive definite.
bool cholesky_lower(std::vector<double>& a, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    double* ri = a.data() + i * k;
    for (int64_t j = 0; j <= i; ++j) {
      const double* rj = a.data() + j * k;
      const double s = ri[j] - dot_lanes(ri, rj, j);
      if (j == i) {
        if (!(s > 0)) return false;
        ri[i] = std::sqrt(s);
      } else {
        ri[j] = s / rj[j];
      }
    }
    std::fill(ri + i + 1, ri + k, 0.0);
  }
  return true;
}

// The inverse of a lower-triangular l (k x k), lower-triangular, row by row: row i is
// -(sum over p < i of l[i][p] x[p]) / l[i][i] off the diagonal, each x[p] added whole
// (contiguous, so the loop vectorises).
std::vector<double> invert_lower(const std::vector<double>& l, int64_t k) {
  std::vector<double> x(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i) {
    double* xi = x.data() + i * k;
    const double* li = l.data() + i * k;
    for (int64_t p = 0; p < i; ++p) {
      const double c = li[p];
      const double* xp = x.data() + p * k;
      for (int64_t j = 0; j <= p; ++j) xi[j] += c * xp[j];
    }
    const double inv = 1.0 / li[i];
    for (int64_t j = 0; j < i; ++j) xi[j] *= -inv;
    xi[i] = inv;
  }
  return x;
}

// U upper-triangular with H^-1 = U^T U. Reversing the order of the inputs (P) turns it into a
// lower factorisation: P H P = M M^T gives H = R R^T with R = P M P upper, so H^-1 = R^-T R^-1
// and U = R^-1 = P M^-1 P. One Cholesky and one triangular inverse, no explicit H^-1. Row i of U
// is what GPTQ needs when it rounds column i: U[i][j] / U[i][i] says how much of column i's
// error moves onto column j > i.
std::vector<double> inverse_upper_factor(const std::vector<double>& h, int64_t k) {
  std::vector<double> m(static_cast<size_t>(k * k));
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) m[a * k + b] = h[(k - 1 - a) * k + (k - 1 - b)];
  KILN_CHECK(cholesky_lower(m, k),
             "GPTQ: the damped X^T X of the calibration inputs is not positive definite; raise "
             "the damping");
  const std::vector<double> minv = invert_lower(m, k);
  std::vector<double> u(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i; j < k; ++j) u[i * k + j] = minv[(k - 1 - i) * k + (k - 1 - j)];
  return u;
}

// Codes one row (held in `row`, f64, moved in place as errors spread) into dst. err_scale(i) and
// spread(i, err) are the two formulations' column-i step: how the rounding error of column i is
// weighed and moved onto the columns after it.
template <class Weigh, class Spread>
void code_row(Format f, std::vector<double>& row, int64_t k, int64_t r, uint8_t* dst, Weigh weigh,
              Spread spread) {
  const size_t bb = block_traits(f).block_bytes;
  float block[kBlock];
  int codes[kBlock];
  for (int64_t b0 = 0; b0 < k; b0 += kBlock, dst += bb) {
    const int64_t len = std::min(kBlock, k - b0);
    for (int64_t e = 0; e < len; ++e) block[e] = static_cast<float>(row[b0 + e]);
    const Q4Scale s = q4_block_scale(f, block, len, r, b0 / kBlock);
    for (int64_t e = 0; e < len; ++e) {
      const int64_t i = b0 + e;
      codes[e] = q4_code(f, s, static_cast<float>(row[i]));
      const double err = (row[i] - static_cast<double>(q4_value(f, s, codes[e]))) / weigh(i);
      spread(i, err);
    }
    q4_store_block(f, s, codes, len, dst);
  }
}

}  // namespace

InputGram::InputGram(int64_t k) : k_(k), sum_(static_cast<size_t>(k * k), 0.0) {
  KILN_CHECK(k >= 0, "InputGram: negative feature count ", k);
}

void InputGram::add(const float* x, int64_t rows, int64_t ldx) {
  if (rows <= 0 || k_ == 0) return;
  chunk_.resize(static_cast<size_t>(k_ * k_));
  gemm::sgemm(true, false, k_, k_, rows, 1.0f, x, ldx, x, ldx, 0.0f, chunk_.data(), k_);
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += static_cast<double>(chunk_[i]);
  rows_ += rows;
}

void gptq_quantize_rows(Format f, const float* w, int64_t n, int64_t k, int64_t ldw,
                        const InputGram& gram, const GptqOptions& options, uint8_t* dst) {
  check_args("gptq_quantize_rows", f, n, k, gram, options);
  if (n == 0 || k == 0) return;
  const std::vector<double> u = inverse_upper_factor(damped_gram(gram, options.damp), k);
  const size_t rb = row_bytes(f, k);
  for (int64_t r = 0; r < n; ++r) check_finite_row(w + r * ldw, k, r);
  parallel_for(0, n, 4, [&](int64_t r0, int64_t r1) {
    std::vector<double> row(static_cast<size_t>(k));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t p = 0; p < k; ++p) row[p] = w[r * ldw + p];
      code_row(
          f, row, k, r, dst + r * rb, [&](int64_t i) { return u[i * k + i]; },
          [&](int64_t i, double err) {
            const double* ui = u.data() + i * k;
            for (int64_t j = i + 1; j < k; ++j) row[j] -= err * ui[j];
          });
    }
  });
}

void gptq_quantize_rows_reference(Format f, const float* w, int64_t n, int64_t k, int64_t ldw,
                                  const InputGram& gram, const GptqOptions& options, uint8_t* dst) {
  check_args("gptq_quantize_rows_reference", f, n, k, gram, options);
  // H^-1 by Gauss-Jordan with partial pivoting.
  std::vector<double> a = damped_gram(gram, options.damp);
  std::vector<double> inv(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i) inv[i * k + i] = 1;
  for (int64_t c = 0; c < k; ++c) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r * k + c]) > std::fabs(a[piv * k + c])) piv = r;
    KILN_CHECK(a[piv * k + c] != 0, "GPTQ reference: singular damped X^T X");
    for (int64_t j = 0; j < k; ++j) {
      std::swap(a[c * k + j], a[piv * k + j]);
      std::swap(inv[c * k + j], inv[piv * k + j]);
    }
    const double p = a[c * k + c];
    for (int64_t j = 0; j < k; ++j) {
      a[c * k + j] /= p;
      inv[c * k + j] /= p;
    }
    for (int64_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double factor = a[r * k + c];
      for (int64_t j = 0; j < k; ++j) {
        a[r * k + j] -= factor * a[c * k + j];
        inv[r * k + j] -= factor * inv[c * k + j];
      }
    }
  }
  const size_t rb = row_bytes(f, k);
  for (int64_t r = 0; r < n; ++r) {
    check_finite_row(w + r * ldw, k, r);
    std::vector<double> row(w + r * ldw, w + r * ldw + k);
    std::vector<double> hi = inv;  // H^-1 of the columns not rounded yet
    code_row(
        f, row, k, r, dst + r * rb, [&](int64_t i) { return hi[i * k + i]; },
        [&](int64_t i, double err) {
          for (int64_t j = i + 1; j < k; ++j) row[j] -= err * hi[i * k + j];
          // Column i is done: remove it from H^-1.
          const double d = hi[i * k + i];
          for (int64_t x = i + 1; x < k; ++x)
            for (int64_t y = i + 1; y < k; ++y) hi[x * k + y] -= hi[x * k + i] * hi[i * k + y] / d;
        });
  }
}

}  // namespace kiln::quant
