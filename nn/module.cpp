#include "nn/module.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln::nn {

// The slots (possibly in different modules) that hold one tied tensor. Linear and Embedding keep
// `Tensor&` references to their own slots, so a tie cannot merge slots; instead every member slot
// holds a handle to the same TensorImpl (one storage, one autograd leaf), and the group restores
// that whenever one member's handle was replaced (load_state_dict, `*p = p->clone()`).
struct Module::TieGroup {
  struct Member {
    Module* owner;  // removes itself in ~Module
    Tensor* slot;
  };
  std::vector<Member> members;
  // The tensor every member held at the last sync. Compared by owner (control block), so a freed
  // tensor whose address is reused is never mistaken for it.
  std::weak_ptr<TensorImpl> shared;

  bool holds_shared(const Tensor& t) const {
    return !shared.owner_before(t.impl_ptr()) && !t.impl_ptr().owner_before(shared);
  }
  // If a member's tensor was replaced since the last sync, every member takes the replacement.
  void sync() {
    const Tensor* replaced = nullptr;
    for (const Member& m : members) {
      if (holds_shared(*m.slot)) continue;
      KILN_CHECK(!replaced || replaced->same(*m.slot),
                 "two names of one tied parameter were given different tensors; write into a tied "
                 "parameter in place or replace it under one name only");
      replaced = m.slot;
    }
    if (!replaced) return;
    const Tensor t = *replaced;
    for (const Member& m : members) *m.slot = t;
    shared = t.impl_ptr();
  }
};

struct Module::Entry {
  std::string name;
  Tensor* slot;
  TieGroup* tie;          // null when the slot is not tied
  std::string canonical;  // empty when `name` is the canonical name
};

Module::~Module() {
  for (auto& [slot, group] : ties_)
    std::erase_if(group->members, [this](const TieGroup::Member& m) { return m.owner == this; });
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool buffers,
                     std::map<const void*, std::string>& seen, std::vector<Entry>& out) const {
  KILN_CHECK(!weights_quantized_, "'", prefix, "weight' is quantized (kiln.quantization): a ",
             "quantized model runs inference only; training, gradients and reading its weights as "
             "float tensors are refused (train the float model, then run kiln quantize)");
  KILN_CHECK(!weights_released_, "module '", prefix,
             "': its weights were released after packing for inference; call unpack_weights() "
             "before reading or training them");
  for (const auto& [name, t] : buffers ? buffers_ : params_) {
    TieGroup* tie = nullptr;
    if (auto it = ties_.find(t.get()); !buffers && it != ties_.end()) {
      tie = it->second.get();
      tie->sync();
    }
    // Undefined slots (e.g. the bias of a bias-free Linear) are not parameters.
    if (!t->defined()) continue;
    // A tied tensor is identified by its group, a shared child's by its slot.
    const void* key = tie ? static_cast<const void*>(tie) : t.get();
    const auto [first, fresh] = seen.emplace(key, prefix + name);
    out.push_back({prefix + name, t.get(), tie, fresh ? "" : first->second});
  }
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", buffers, seen, out);
}

std::vector<Module::Entry> Module::entries(bool buffers) const {
  std::map<const void*, std::string> seen;
  std::vector<Entry> out;
  collect("", buffers, seen, out);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (const Entry& e : entries(false))
    if (e.canonical.empty()) out.emplace_back(e.name, e.slot);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (const Entry& e : entries(true))
    if (e.canonical.empty()) out.emplace_back(e.name, e.slot);
  return out;
}

std::map<std::string, std::string> Module::parameter_aliases() const {
  std::map<std::string, std::string> out;
  for (bool buffers : {false, true})
    for (const Entry& e : entries(buffers))
      if (!e.canonical.empty()) out[e.name] = e.canonical;
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t->numel();
  return n;
}

Tensor& Module::parameter_slot(const std::string& path, Module*& owner) {
  Module* m = this;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string part = path.substr(start, dot - start);
    const auto it = std::find_if(m->children_.begin(), m->children_.end(),
                                 [&](const auto& c) { return c.first == part; });
    KILN_CHECK(it != m->children_.end(), "tie_parameter: '", path,
               "' names no parameter (no module '", path.substr(0, dot), "')");
    m = it->second.get();
  }
  const std::string leaf = path.substr(start);
  for (auto& [name, t] : m->params_) {
    if (name != leaf) continue;
    owner = m;
    return *t;
  }
  throw Error("tie_parameter: '" + path + "' names no parameter");
}

void Module::tie_parameter(const std::string& alias, const std::string& source) {
  Module *alias_owner = nullptr, *source_owner = nullptr;
  Tensor& a = parameter_slot(alias, alias_owner);
  Tensor& s = parameter_slot(source, source_owner);
  if (&a == &s) return;  // one slot reached twice (a child registered under two names)
  // An undefined slot (a bias-free Linear's bias) is not a parameter of the architecture.
  KILN_CHECK(s.defined() && a.defined(), "tie_parameter: '", s.defined() ? alias : source,
             "' is an unused slot (e.g. the bias of a bias-free layer)");
  KILN_CHECK(a.shape() == s.shape() && a.dtype() == s.dtype(), "tie_parameter: '", alias, "' is ",
             a.describe(), " but '", source, "' is ", s.describe());
  std::shared_ptr<TieGroup>& source_group = source_owner->ties_[&s];
  if (!source_group) {
    source_group = std::make_shared<TieGroup>();
    source_group->members.push_back({source_owner, &s});
  }
  source_group->sync();  // `s` is the group's current tensor
  const std::shared_ptr<TieGroup> group = source_group;
  const auto old = alias_owner->ties_.find(&a);
  if (old != alias_owner->ties_.end() && old->second == group) return;
  if (old != alias_owner->ties_.end()) {
    // The alias is already tied elsewhere: its whole group joins this one.
    const std::shared_ptr<TieGroup> merged = old->second;
    for (const TieGroup::Member& m : merged->members) {
      m.owner->ties_[m.slot] = group;
      group->members.push_back(m);
    }
  } else {
    alias_owner->ties_[&a] = group;
    group->members.push_back({alias_owner, &a});
  }
  const Tensor t = s;
  for (const TieGroup::Member& m : group->members) *m.slot = t;
  group->shared = t.impl_ptr();
}

void Module::sync_own_ties() const {
  for (const auto& [slot, group] : ties_) group->sync();
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str();
}

// The first names of a list that may be as long as a model: an error message stays readable
// (a BERT-large checkpoint against the wrong model misses ~400 names).
std::string join_capped(const std::vector<std::string>& v) {
  constexpr size_t kShown = 20;
  if (v.size() <= kShown) return join(v);
  return join(std::vector<std::string>(v.begin(), v.begin() + kShown)) + ", ... and " +
         std::to_string(v.size() - kShown) + " more";
}

}  // namespace

void Module::load_state_dict(const StateDict& state, bool strict, const std::string& origin) {
  unpack_weights();  // new weights make any packed copy stale
  std::set<std::string> used;
  std::vector<std::string> missing, mismatched;
  auto assign = [&](const Entry& e, const std::string& name, const Tensor& src) {
    Tensor* slot = e.slot;
    if (slot->defined() && src.shape() != slot->shape()) {
      mismatched.push_back(name + " (checkpoint " + src.describe() + ", model " + slot->describe() +
                           ")");
      return;
    }
    const DType want = slot->defined() ? slot->dtype() : src.dtype();
    const bool grad = slot->defined() && slot->requires_grad();
    *slot = src.dtype() == want ? src : src.to(want);
    if (grad) slot->set_requires_grad(true);
    if (e.tie) e.tie->sync();  // the other names of the tensor follow
  };
  auto load = [&](const std::vector<Entry>& all, bool required) {
    std::map<std::string, std::vector<std::string>> aliases;  // canonical -> its other names
    for (const Entry& e : all)
      if (!e.canonical.empty()) aliases[e.canonical].push_back(e.name);
    for (const Entry& e : all) {
      if (!e.canonical.empty()) continue;
      std::vector<std::string> names{e.name};
      if (auto a = aliases.find(e.name); a != aliases.end())
        names.insert(names.end(), a->second.begin(), a->second.end());
      // The canonical name wins when present, otherwise the first alias found.
      const Tensor* src = nullptr;
      std::string src_name;
      for (const std::string& n : names) {
        const auto it = state.find(n);
        if (it == state.end()) continue;
        used.insert(n);
        if (!src) {
          src = &it->second;
          src_name = n;
        } else if (it->second.shape() != src->shape()) {
          mismatched.push_back(n + " (checkpoint " + it->second.describe() +
                               ", but its tied name " + src_name + " is " + src->describe() + ")");
        }
      }
      if (src) {
        assign(e, src_name, *src);
      } else if (required) {
        missing.push_back(names.size() == 1
                              ? e.name
                              : e.name + " (or its alias " +
                                    join(std::vector<std::string>(names.begin() + 1, names.end())) +
                                    ")");
      }
    }
  };
  load(entries(false), true);
  load(entries(true), false);
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : state)
    if (!used.count(name)) unexpected.push_back(name);
  const std::string where = origin.empty() ? "" : origin + ": ";
  KILN_CHECK(mismatched.empty(), where, "shape mismatch for ", join_capped(mismatched));
  if (strict) {
    KILN_CHECK(missing.empty() && unexpected.empty(), where, "checkpoint does not match the model",
               missing.empty() ? "" : "; missing: " + join_capped(missing),
               unexpected.empty() ? "" : "; unexpected: " + join_capped(unexpected));
  } else {
    KILN_CHECK(missing.empty(), where, "missing parameters: ", join_capped(missing));
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  for (bool buffers : {false, true})
    for (const Entry& e : entries(buffers))
      if (e.canonical.empty()) out[e.name] = *e.slot;
  return out;
}

void Module::train(bool on) {
  training_ = on;
  sync_own_ties();
  if (on) drop_packed_self();
  for (auto& [name, child] : children_) child->train(on);
}

void Module::pack_for_inference(bool release_weights) {
  sync_own_ties();
  // A tied weight is still read row-major by its other users (e.g. an embedding lookup).
  pack_self(release_weights && ties_.empty());
  for (auto& [name, child] : children_) child->pack_for_inference(release_weights);
}

void Module::unpack_weights() {
  drop_packed_self();
  for (auto& [name, child] : children_) child->unpack_weights();
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

void Module::set_requires_grad(bool on) {
  for (auto& [name, t] : named_parameters()) t->set_requires_grad(on);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t->zero_grad();
}

}  // namespace kiln::nn
