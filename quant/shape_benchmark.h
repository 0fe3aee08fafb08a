// "Never slower": times each distinct weight shape as a float packed GEMM (gemm::PackedB, what a
// float Linear runs at inference) and as the quantized kernel (quant::linear_quant) at the
// model's typical row count, on this machine, so the pass keeps whichever is faster per shape.
// Random operands (the timing does not depend on the values); the faster of interleaved
// repetitions' minima, so a neighbour's burst affects both sides alike.
#pragma once

#include <cstdint>

#include "core/quant_format.h"

namespace kiln::quant {

struct ShapeTiming {
  double float_ms = 0;
  double quant_ms = 0;
};

ShapeTiming time_shape(int64_t rows, int64_t n, int64_t k, Format format, int repetitions);

}  // namespace kiln::quant
