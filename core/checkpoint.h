// Gradient checkpointing: run a piece of the forward (a transformer layer) without keeping its
// activations, and recompute them inside backward. The result's node saves only the inputs; its
// backward re-runs `fn` with grad mode on and backpropagates through that recomputation.
//
// Bit-identical gradients. The recomputation must see what the original forward saw:
//  - dropout masks come from counters (core/rng.h), so the generator is put back to the offset
//    the forward started from, and must end where the forward ended (checked);
//  - the bf16 autocast mode (core/autocast.h) in force at the forward is restored around it;
//  - the gradient reaching each input is handed on as the separate contributions of its uses
//    (Node::apply_contributions), so the producer sums them in the order and grouping it would
//    without checkpointing (e.g. a BART encoder output read by every decoder layer).
// Parameters that `fn` uses get their .grad accumulated by the recomputation's own backward; a
// parameter must therefore be read only inside one checkpointed call per forward (true of layer
// weights; a parameter shared across layers would be summed in another grouping).
#pragma once

#include <functional>
#include <vector>

#include "core/tensor.h"

namespace kiln {

class Generator;

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// fn(inputs), recorded as one node that recomputes fn in backward. `inputs` may hold undefined
// or integer tensors (masks); floating ones that require grad receive gradients. fn must be a
// pure function of its inputs, its captured parameters and `gen` (may be null: no randomness),
// and is kept (with what it captures) until the backward. Without grad mode this is just fn.
Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs, Generator* gen);

// True on this thread while a checkpoint's backward re-runs its function. What a forward changes
// besides its result (batch norm's running statistics and batch count) must change once per
// forward, so such layers skip those updates during the recomputation.
bool checkpoint_recomputing();

}  // namespace kiln
