// Module: a named tree of parameters and buffers whose dotted names are exactly the keys of the
// Hugging Face state dict (e.g. "bert.encoder.layer.0.attention.self.query.weight"), so loading a
// checkpoint is a name lookup, not a per-model translation table.
//
// Tied parameters: one tensor may carry several names (BART's model.shared.weight is also
// model.encoder.embed_tokens.weight, model.decoder.embed_tokens.weight and lm_head.weight). Such a
// tensor is listed once, under its canonical name: the first of its names in depth-first
// registration order, which is the name torch's named_parameters() reports. The others are
// aliases (parameter_aliases()); loading accepts any of them. Two ways to tie:
//   - tie_parameter("lm_head.weight", "model.shared.weight") makes one slot share another's tensor
//     (the usual case: a Linear reusing an Embedding's weight);
//   - register_module() with the same child under two names shares all of its tensors.
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
  virtual ~Module();
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every trainable tensor, depth-first in registration order, with full dotted names. A tied
  // tensor appears once, under its canonical name, so an optimizer updates it once.
  std::vector<std::pair<std::string, Tensor*>> named_parameters() const;
  // Non-trainable state that still lives in checkpoints (e.g. BERT's position_ids).
  std::vector<std::pair<std::string, Tensor*>> named_buffers() const;
  int64_t parameter_count() const;

  // Copies (or adopts, when dtype matches) tensors by name. With strict, any parameter missing from
  // `state` or any key of `state` that names nothing here is an error listing all of them.
  // Buffers are optional: a missing buffer keeps its default. A tied tensor is found under its
  // canonical name or, failing that, the first of its aliases present; every name present must
  // have the same shape, and none of them is reported as unexpected.
  void load_state_dict(const StateDict& state, bool strict = true, const std::string& origin = "");
  // One entry per tensor, under its canonical name (aliases are not repeated).
  StateDict state_dict() const;

  // Makes the parameter at dotted path `alias` (relative to this module) the same tensor as the
  // parameter at `source`: one storage, one gradient accumulated from every use, one optimizer
  // entry. The alias's own tensor is dropped; shapes and dtypes must match. Ties are transitive.
  // Write into a tied tensor in place (copy_, optimizers); if a caller replaces the tensor of one
  // of its slots instead (`*p = p->clone()`), the other slots follow at the next
  // named_parameters(), state_dict(), load_state_dict(), train()/eval() or pack_for_inference(),
  // not before.
  void tie_parameter(const std::string& alias, const std::string& source);
  // Alias name -> canonical name, for every state-dict name that reaches a tensor already listed
  // under an earlier name (tied parameters, and the parameters and buffers of a child module
  // registered twice). Converters use it to drop or accept the duplicates.
  std::map<std::string, std::string> parameter_aliases() const;

  // Inference preparation: layers that can (Linear) pack their weights once for the GEMM and use
  // the packed copy in no-grad forwards (bit-identical results, ~15-20% faster at 128 tokens).
  // With release_weights the row-major weights are freed, so packing costs no extra memory; the
  // module can then only run forwards, and named_parameters()/state_dict() refuse with an error
  // until unpack_weights() (or train(true), or load_state_dict) restores them exactly. Without it
  // the packed copy is extra memory and a snapshot: a layer whose weight tensor was replaced
  // ignores it; do not modify weights in place in eval mode after packing. A module holding a tied
  // parameter packs but never releases: the tensor's other users (an embedding lookup) still read
  // it row-major.
  void pack_for_inference(bool release_weights = false);
  void unpack_weights();

  // Every module of the tree with its dotted path ("" for this one), depth-first in registration
  // order; a child registered twice appears under each name. Used to put quantized weights into
  // their layers (nn/quantized_weight.h) and by the quantization pass to find eligible layers.
  std::vector<std::pair<std::string, Module*>> named_modules();

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
  // Set by a layer holding a quantized weight (its float slot then holds a placeholder that is
  // never read): the module runs forwards only, and named_parameters()/state_dict() refuse,
  // naming the tensor, so that training or autograd cannot silently skip or misuse it.
  bool weights_quantized_ = false;
  // Registration: call from constructors. Returned references stay valid for the module's life.
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  struct TieGroup;  // the slots that share one tensor (module.cpp)
  struct Entry;     // one slot reached by a traversal, with its canonical name if it is an alias
  // Depth-first walk of parameters or buffers; `seen` maps each tensor (a slot, or a tie group)
  // to the first name it was reached under, which makes later names aliases.
  void collect(const std::string& prefix, bool buffers, std::map<const void*, std::string>& seen,
               std::vector<Entry>& out) const;
  std::vector<Entry> entries(bool buffers) const;
  Tensor& parameter_slot(const std::string& path, Module*& owner);
  void sync_own_ties() const;
  // unique_ptr keeps each tensor's address stable while the vectors grow.
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  // This module's tied parameter slots and their groups (shared with the other members' modules).
  std::map<const Tensor*, std::shared_ptr<TieGroup>> ties_;
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
