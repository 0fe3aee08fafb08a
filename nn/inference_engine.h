// Batched no-grad inference for any nn::Model: callers queue unbatched items (named tensors without
// the batch dimension, e.g. 1-D token sequences) and get back one output set per item, in the
// order they were submitted.
//
// Batching: the queued items are sorted by length (stable, so equal lengths keep submission
// order) and cut into batches of batch_size; each input of a batch is padded to its longest
// member with that input's pad value (input_ids: the model's pad token; attention_mask: 0 so the
// padding is invisible). Sorting first keeps the padding small. Items of one fixed shape (images
// [C, H, W]) are stacked as they are: padding only ever happens along dimensions whose sizes
// differ between members.
//
// Splitting: every output loses its batch dimension. Outputs of rank >= 3 whose dimension 1 is
// the batch's padded length ([batch, length, ...]: logits of a token head, hidden states) are cut
// back to the item's own length; other outputs ([batch, labels], pooler_output) are kept whole. A
// per-token output of rank 2 ([batch, length]) would keep its padding: a model with such an
// output needs its own rule here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/model.h"

namespace kiln::nn {

struct InferenceOptions {
  int64_t batch_size = 16;
  // What each input is padded with; inputs not named here pad with 0.
  std::map<std::string, double> pad_values;
  ForwardOptions forward;
  // The outputs to hand back (empty: all). Results live until the caller drops them, so naming
  // the few it reads (a head's logits) keeps hidden states of every batch from piling up.
  std::vector<std::string> outputs;
};

class InferenceEngine {
 public:
  // `model` is not owned and must outlive the engine; it is run as it is (callers put it in eval
  // mode). Throws if batch_size < 1.
  InferenceEngine(const Model& model, InferenceOptions options);

  // Queues one item. All items of a run must have the same input names, each input with the same
  // rank and dtype in every item (checked by run()).
  void submit(NamedTensors item);
  size_t queued() const { return queue_.size(); }

  // Runs every queued item (no gradients recorded) and returns their outputs in submission order;
  // the queue is then empty. Outputs are views into the batch's output tensors.
  std::vector<NamedTensors> run();
  // submit() each of `items`, then run().
  std::vector<NamedTensors> run(std::vector<NamedTensors> items);

  // An item's length: the largest dimension 0 among its inputs (0 for scalar-only items). This is
  // what batches are sorted by and what per-token outputs are cut back to.
  static int64_t item_length(const NamedTensors& item);

 private:
  const Model& model_;
  InferenceOptions options_;
  std::vector<NamedTensors> queue_;
};

// The items of one batch stacked along a new dimension 0, each input padded to the largest size
// of every dimension with its pad value (pad_values, else 0). Exposed for the engine's tests.
NamedTensors collate_items(const std::vector<const NamedTensors*>& items,
                           const std::map<std::string, double>& pad_values);

}  // namespace kiln::nn
