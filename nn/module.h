// Module: a named tree of parameters and buffers whose dotted names are exactly the keys of the
// Hugging Face state dict (e.g. "bert.encoder.layer.0.attention.self.query.weight"), so loading a
// checkpoint is a name lookup, not a per-model translation table.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kiln::nn {

using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every trainable tensor, depth-first in registration order, with full dotted names.
  std::vector<std::pair<std::string, Tensor*>> named_parameters() const;
  // Non-trainable state that still lives in checkpoints (e.g. BERT's position_ids).
  std::vector<std::pair<std::string, Tensor*>> named_buffers() const;
  int64_t parameter_count() const;

  // Copies (or adopts, when dtype matches) tensors by name. With strict, any parameter missing from
  // `state` or any key of `state` that names nothing here is an error listing all of them.
  // Buffers are optional: a missing buffer keeps its default.
  void load_state_dict(const StateDict& state, bool strict = true, const std::string& origin = "");
  StateDict state_dict() const;

  // Inference preparation: layers that can (Linear) pack their weights once for the GEMM and use
  // the packed copy in no-grad forwards (bit-identical results, ~15-20% faster at 128 tokens).
  // With release_weights the row-major weights are freed, so packing costs no extra memory; the
  // module can then only run forwards, and named_parameters()/state_dict() refuse with an error
  // until unpack_weights() (or train(true), or load_state_dict) restores them exactly. Without it
  // the packed copy is extra memory and a snapshot: a layer whose weight tensor was replaced
  // ignores it; do not modify weights in place in eval mode after packing.
  void pack_for_inference(bool release_weights = false);
  void unpack_weights();

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  void set_requires_grad(bool on);
  void zero_grad();

 protected:
  // Hooks for pack_for_inference() / unpack_weights() on this module only (children are walked by
  // the base class). A module that frees its weights in pack_self sets weights_released_.
  virtual void pack_self(bool /*release_weights*/) {}
  virtual void drop_packed_self() {}
  bool weights_released_ = false;
  // Registration: call from constructors. Returned references stay valid for the module's life.
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, bool buffers,
               std::vector<std::pair<std::string, Tensor*>>& out) const;
  // unique_ptr keeps each tensor's address stable while the vectors grow.
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = false;
};

// A plain namespace node of the module tree ("encoder", "layer", "attention"...), used to build
// Hugging Face's nested names without a class per level.
class Group : public Module {
 public:
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
  std::shared_ptr<Group> group(const std::string& name) {
    return register_module(name, std::make_shared<Group>());
  }
  Tensor& add_buffer(const std::string& name, Tensor t) {
    return register_buffer(name, std::move(t));
  }
};

}  // namespace kiln::nn
