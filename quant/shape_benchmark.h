// "Never slower": times one weight shape as a float packed GEMM (gemm::PackedB, what a float
// Linear runs at inference) and as the quantized kernel (quant::linear_quant, activation
// quantization included) at the model's typical row count, on this machine, so that the pass can
// keep whichever is faster per shape (quant/speed_check.h decides).
//
// Why the timing is built the way it is: the decision is written into the model file, so it
// should not flip from one run to the next on a busy machine. Each sample runs the GEMM enough
// times to last about `min_sample_ms` (a few microseconds of a tiny shape would be clock noise);
// float and quantized samples alternate, and which one goes first alternates too, so that a
// neighbour's burst of load or a frequency change hits both sides alike; the median of the samples
// (not the minimum, one lucky sample) is reported. Random operands: the time does not depend on
// the values.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/quant_format.h"

namespace kiln::quant {

struct ShapeTiming {
  double float_ms = 0;  // median milliseconds of one float GEMM
  double quant_ms = 0;  // median milliseconds of one quantized GEMM
};

struct ShapeTimingOptions {
  int samples = 7;             // interleaved samples per side (the median is taken)
  double min_sample_ms = 1.0;  // each sample repeats the GEMM until it lasts this long
};

// The median of timing samples (the mean of the middle two for an even count).
double median(std::vector<double> samples);

// Milliseconds per call of `fn`: one timed call (a warm-up that also sizes the run), then enough
// back-to-back calls to last about `target_ms`, averaged.
double ms_per_call_lasting(const std::function<void()>& fn, double target_ms);

// `rows` x `k` activations times an `n` x `k` weight (a Linear with k inputs, n outputs).
ShapeTiming time_shape(int64_t rows, int64_t n, int64_t k, Format format,
                       const ShapeTimingOptions& options = {});

}  // namespace kiln::quant
