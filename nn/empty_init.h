// Building a model whose every parameter is about to be loaded from a file, without allocating it
// first (torch's init_empty_weights / meta device). Inside an EmptyInit scope, the tensors that
// layers create for their parameters and file-backed buffers (new_state_tensor) are placeholders:
// the right shape and dtype, one shared read-only element broadcast over the shape, no memory.
// load_state_dict then replaces every slot with the file's tensor (zero-copy from the mapping when
// the dtypes match), so loading a model costs the file, not the file plus a model of zeros.
//
// A placeholder must never be read as weights: after loading, check_no_placeholders refuses a
// model with a slot the file did not fill, naming the file and the tensor. Writing into one is
// refused by the read-only storage (as for a mapped file), so it cannot go unnoticed either.
//
// Buffers a model legitimately does not find in every file keep being made with their default
// values (plain Tensor factories, not new_state_tensor): BERT's position_ids (non-persistent in
// newer transformers), BART/LED's final_logits_bias (transformers zero-fills a missing one) and
// batch norm's num_batches_tracked (absent from older torchvision checkpoints). They are small.
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/module.h"

namespace kiln::nn {

// RAII, per thread: parameters created on this thread while it lives are placeholders. Nests;
// EmptyInit(false) changes nothing (for code that decides at run time).
class EmptyInit {
 public:
  explicit EmptyInit(bool on = true);
  ~EmptyInit();
  EmptyInit(const EmptyInit&) = delete;
  EmptyInit& operator=(const EmptyInit&) = delete;

 private:
  bool previous_;
};

bool empty_init_active();

// The tensor a layer registers as a parameter or a file-backed buffer: `shape` filled with
// `value`, or a placeholder inside an EmptyInit scope. Every layer creates its state through it.
Tensor new_state_tensor(const Shape& shape, double value, DType dtype = DType::F32);

// A placeholder of `shape` and `dtype` (what new_state_tensor makes under EmptyInit).
Tensor placeholder_tensor(const Shape& shape, DType dtype);
bool is_placeholder(const Tensor& t);

// After loading from `origin`: an error naming `origin` and every parameter or buffer that still
// holds a placeholder (at most 20 names). Call it before attach_quantized_weights (a quantized
// layer's walk refuses), which leaves its own, different stand-ins in the quantized slots.
void check_no_placeholders(const Module& model, const std::string& origin);

}  // namespace kiln::nn
