#include "core/autograd.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "core/op_registry.h"
#include "core/ops.h"

namespace kiln {
namespace {

thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_next_seq{1};
std::atomic<int64_t> g_live_nodes{0};

// Adds an arriving gradient into a leaf's .grad (creating it on first arrival).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::weak_ptr<TensorImpl> leaf)
      : Node(nullptr, 0), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& g) override {
    auto impl = leaf_.lock();
    if (!impl) return {};
    Tensor leaf(impl);
    Tensor prev = leaf.grad();
    Tensor gg = g.dtype() == leaf.dtype() ? g : g.to(leaf.dtype());
    // A fresh buffer: the incoming gradient may alias a saved tensor or another leaf's grad.
    leaf.set_grad(prev.defined() ? add(prev, gg) : gg.clone());
    return {};
  }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

std::shared_ptr<Node> grad_edge_for(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  auto& meta = *t.impl().autograd;
  if (meta.grad_fn) return meta.grad_fn;
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return acc;
}

}  // namespace

bool grad_enabled() {
  return t_grad_enabled;
}
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) {
  t_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  t_grad_enabled = prev_;
}
EnableGradGuard::EnableGradGuard() : prev_(t_grad_enabled) {
  t_grad_enabled = true;
}
EnableGradGuard::~EnableGradGuard() {
  t_grad_enabled = prev_;
}

std::vector<std::vector<Tensor>> Node::apply_contributions(const Tensor& grad_output) {
  std::vector<Tensor> grads = apply(grad_output);
  std::vector<std::vector<Tensor>> out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) out[i].push_back(std::move(grads[i]));
  return out;
}

Node::Node(const OpInfo* op) : op_(op), seq_(g_next_seq.fetch_add(1)) {
  g_live_nodes++;
}
Node::Node(const OpInfo* op, uint64_t seq) : op_(op), seq_(seq) {
  g_live_nodes++;
}
Node::~Node() {
  g_live_nodes--;
}

void Node::release() {
  release_saved();
  saved_versions_.clear();
  released = true;
}

void Node::save_versions_of(std::initializer_list<const Tensor*> tensors) {
  saved_versions_.reserve(saved_versions_.size() + tensors.size());
  for (const Tensor* t : tensors)
    if (t && t->defined()) saved_versions_.push_back({t->storage(), t->storage()->version()});
}

void Node::check_saved_versions() const {
  for (const SavedVersion& s : saved_versions_) {
    const uint64_t now = s.storage->version();
    KILN_CHECK(now == s.version, "autograd: a tensor saved by '", name(),
               "' for backward was modified in place (version ", now, ", saved at version ",
               s.version,
               "); clone it before writing to it, or write to it only after this backward");
  }
}

const char* Node::name() const {
  return op_ ? op_->name : "accumulate_grad";
}
int64_t Node::live_count() {
  return g_live_nodes.load();
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const OpInfo& op, const Tensor& out, const std::vector<Tensor>& inputs,
              LambdaNode::Fn backward) {
  return record(op, out, inputs, {}, std::move(backward));
}

Tensor record(const OpInfo& op, const Tensor& out, const std::vector<Tensor>& inputs,
              std::initializer_list<const Tensor*> saved, LambdaNode::Fn backward) {
  if (!needs_grad(inputs)) return out;
  KILN_CHECK(op.differentiable, "op '", op.name, "' is not differentiable");
  auto node = std::make_shared<LambdaNode>(&op, std::move(backward));
  node->save_versions_of(saved);
  node->next_edges.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next_edges.push_back({grad_edge_for(in)});
  auto& impl = out.impl();
  if (!impl.autograd) impl.autograd = std::make_unique<AutogradMeta>();
  impl.autograd->requires_grad = true;
  impl.autograd->grad_fn = std::move(node);
  return out;
}

namespace {

// `captured` (may be null): leaves whose contributions go to `out` (same index) instead of .grad.
void run_backward_impl(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
                       bool retain_graph, const std::vector<Tensor>* captured,
                       std::vector<std::vector<Tensor>>* out) {
  KILN_CHECK(roots.size() == seeds.size(), "backward: ", roots.size(), " roots but ", seeds.size(),
             " gradients");
  NoGradGuard no_grad;  // backward computations are never themselves recorded
  std::unordered_map<Node*, Tensor> pending;
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;

  std::unordered_map<Node*, size_t> capture_index;
  std::vector<std::shared_ptr<Node>> capture_nodes;  // keeps the accumulators alive meanwhile
  if (captured) {
    out->assign(captured->size(), {});
    for (size_t i = 0; i < captured->size(); ++i) {
      const Tensor& c = (*captured)[i];
      KILN_CHECK(c.requires_grad() && c.is_leaf(),
                 "backward: a captured tensor must be a leaf that requires grad, got ",
                 c.describe());
      capture_nodes.push_back(grad_edge_for(c));
      capture_index[capture_nodes.back().get()] = i;
    }
  }

  auto add_grad = [&](Node* n, const Tensor& g) {
    if (auto ci = capture_index.find(n); ci != capture_index.end()) {
      (*out)[ci->second].push_back(g);
      return;
    }
    auto it = pending.find(n);
    if (it == pending.end() || !it->second.defined()) {
      pending[n] = g;
    } else {
      it->second = add(it->second, g);
    }
  };

  // Collect every node reachable from the roots.
  std::vector<std::shared_ptr<Node>> stack;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    KILN_CHECK(r.requires_grad(), "backward: tensor ", r.describe(),
               " does not require grad (no recorded history)");
    auto n = grad_edge_for(r);
    Tensor seed = seeds[i];
    if (!seed.defined()) {
      KILN_CHECK(r.numel() == 1, "backward: a gradient must be given for non-scalar output ",
                 r.describe());
      seed = Tensor::ones(r.shape(), r.dtype());
    }
    KILN_CHECK(seed.shape() == r.shape(), "backward: gradient shape ", shape_str(seed.shape()),
               " does not match output shape ", shape_str(r.shape()));
    add_grad(n.get(), seed);
    if (seen.insert(n.get()).second) stack.push_back(n);
  }
  while (!stack.empty()) {
    auto n = stack.back();
    stack.pop_back();
    KILN_CHECK(!n->released,
               "backward through a graph a second time (its saved tensors were freed;"
               " pass retain_graph=true to the first backward)");
    order.push_back(n);
    for (auto& e : n->next_edges)
      if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node);
  }
  // Tape order: a node's consumers were created after it, so they have larger sequence numbers.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a->sequence_nr() > b->sequence_nr();
  });

  for (auto& n : order) {
    auto it = pending.find(n.get());
    if (it == pending.end() || !it->second.defined()) continue;
    Tensor g = std::move(it->second);
    pending.erase(it);
    n->check_saved_versions();
    std::vector<std::vector<Tensor>> grads = n->apply_contributions(g);
    if (!retain_graph && n->op()) n->release();
    for (size_t i = 0; i < grads.size() && i < n->next_edges.size(); ++i) {
      if (!n->next_edges[i].node) continue;
      for (const Tensor& gi : grads[i])
        if (gi.defined()) add_grad(n->next_edges[i].node.get(), gi);
    }
  }
}

}  // namespace

Tensor record_node(std::shared_ptr<Node> node, const Tensor& out,
                   const std::vector<Tensor>& inputs) {
  node->next_edges.clear();
  node->next_edges.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next_edges.push_back({grad_edge_for(in)});
  auto& impl = out.impl();
  if (!impl.autograd) impl.autograd = std::make_unique<AutogradMeta>();
  impl.autograd->requires_grad = true;
  impl.autograd->grad_fn = std::move(node);
  return out;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
                  bool retain_graph) {
  run_backward_impl(roots, seeds, retain_graph, nullptr, nullptr);
}

std::vector<std::vector<Tensor>> run_backward_capturing(const std::vector<Tensor>& roots,
                                                        const std::vector<Tensor>& seeds,
                                                        const std::vector<Tensor>& captured) {
  std::vector<std::vector<Tensor>> out;
  run_backward_impl(roots, seeds, false, &captured, &out);
  return out;
}

}  // namespace kiln
