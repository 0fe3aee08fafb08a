#include "nn/module.h"

#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool buffers,
                     std::vector<std::pair<std::string, Tensor*>>& out) const {
  KILN_CHECK(!weights_released_, "module '", prefix,
             "': its weights were released after packing for inference; call unpack_weights() "
             "before reading or training them");
  // Undefined slots (e.g. the bias of a bias-free Linear) are not parameters.
  for (const auto& [name, t] : buffers ? buffers_ : params_)
    if (t->defined()) out.emplace_back(prefix + name, t.get());
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", buffers, out);
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  collect("", false, out);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  collect("", true, out);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t->numel();
  return n;
}

void Module::load_state_dict(const StateDict& state, bool strict, const std::string& origin) {
  unpack_weights();  // new weights make any packed copy stale
  std::set<std::string> used;
  std::vector<std::string> missing, mismatched;
  auto assign = [&](const std::string& name, Tensor* slot, bool required) {
    auto it = state.find(name);
    if (it == state.end()) {
      if (required) missing.push_back(name);
      return;
    }
    used.insert(name);
    const Tensor& src = it->second;
    if (slot->defined() && src.shape() != slot->shape()) {
      mismatched.push_back(name + " (checkpoint " + src.describe() + ", model " + slot->describe() +
                           ")");
      return;
    }
    const DType want = slot->defined() ? slot->dtype() : src.dtype();
    const bool grad = slot->defined() && slot->requires_grad();
    *slot = src.dtype() == want ? src : src.to(want);
    if (grad) slot->set_requires_grad(true);
  };
  for (auto& [name, t] : named_parameters()) assign(name, t, true);
  for (auto& [name, t] : named_buffers()) assign(name, t, false);
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : state)
    if (!used.count(name)) unexpected.push_back(name);
  auto join = [](const std::vector<std::string>& v) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    return os.str();
  };
  const std::string where = origin.empty() ? "" : origin + ": ";
  KILN_CHECK(mismatched.empty(), where, "shape mismatch for ", join(mismatched));
  if (strict) {
    KILN_CHECK(missing.empty() && unexpected.empty(), where, "checkpoint does not match the model",
               missing.empty() ? "" : "; missing: " + join(missing),
               unexpected.empty() ? "" : "; unexpected: " + join(unexpected));
  } else {
    KILN_CHECK(missing.empty(), where, "missing parameters: ", join(missing));
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [name, t] : named_parameters()) out[name] = *t;
  for (auto& [name, t] : named_buffers())
    if (t->defined()) out[name] = *t;
  return out;
}

void Module::train(bool on) {
  training_ = on;
  if (on) drop_packed_self();
  for (auto& [name, child] : children_) child->train(on);
}

void Module::pack_for_inference(bool release_weights) {
  pack_self(release_weights);
  for (auto& [name, child] : children_) child->pack_for_inference(release_weights);
}

void Module::unpack_weights() {
  drop_packed_self();
  for (auto& [name, child] : children_) child->unpack_weights();
}

void Module::set_requires_grad(bool on) {
  for (auto& [name, t] : named_parameters()) t->set_requires_grad(on);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t->zero_grad();
}

}  // namespace kiln::nn
