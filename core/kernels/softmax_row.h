// In-place f32 softmax of one contiguous row, the inner loop of the fused attention op.
// Why a kernel: written inline in attention.cpp (built for baseline x86-64) the max and the f64
// row sum were serial dependency chains (GCC may not reorder float reductions) and the exp ran 4
// lanes wide; it was ~4% of a BERT-base forward. Here the max and the sum keep kLanes (16)
// independent partial results, combined in one fixed order, so they vectorise in both builds and
// the result does not depend on the ISA's vector width, only on the row.
// Semantics: row[j] = exp(row[j] - max) / sum_j exp(row[j] - max), exponentials in f32 (see
// fast_exp.h), the sum accumulated in f64; -inf entries (masked keys) give exactly 0. A row whose
// entries are all -inf (no visible key), or an empty row, becomes all zeros and the call returns
// false. The AVX-512 build lets GCC contract the exp polynomial into FMAs, so the two paths may
// differ in the last bit (tests/core/perf_paths_test.cpp checks both against a double reference).
#pragma once

#include <cstdint>

namespace kiln::kernels {

// Dispatches on active_isa().
bool softmax_row_f32(float* row, int64_t n);

// The individual paths, for tests.
bool softmax_row_f32_plain(float* row, int64_t n);
bool softmax_row_f32_avx512(float* row, int64_t n);

}  // namespace kiln::kernels
