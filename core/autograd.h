// Reverse-mode automatic differentiation. Every differentiable op, when grad mode is on and an
// input requires grad, records one Node holding what its backward needs. Nodes get a global,
// increasing sequence number at creation, so the recorded graph is a tape: backward visits nodes
// in decreasing sequence order, which guarantees every consumer of a value ran before its
// producer, without dependency counting. Saved tensors are stored detached so a result never
// keeps itself alive through its own node.
//
// In-place writes: each storage counts its in-place writes (Storage::version). A node remembers
// the count of every tensor its backward reads, as it was when the op ran, and backward refuses
// to apply the node if one changed since: the gradient would silently use the new values.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace kiln {

struct OpInfo;

// Grad mode is per thread. NoGradGuard turns recording off for its scope: ops then allocate no
// nodes and save nothing.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
// The reverse: recording on for its scope (gradient checkpointing re-runs a forward inside
// backward, where grad mode is off).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

class Node;
struct Edge {
  std::shared_ptr<Node> node;  // null: that input needs no gradient
};

class Node {
 public:
  explicit Node(const OpInfo* op);
  virtual ~Node();
  // Gradients w.r.t. each input (same order as next_edges); undefined tensors mean "none".
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // The same as separate contributions per input, in the order they arose: run_backward adds
  // them one by one to the input's pending gradient. A node that stands for a whole recorded
  // sub-graph (checkpoint) returns each use of an input apart, so the sums happen in the order
  // and grouping they would have without it. Default: apply(), one contribution per input.
  virtual std::vector<std::vector<Tensor>> apply_contributions(const Tensor& grad_output);
  // Drops saved tensors after a backward without retain_graph.
  void release();

  // Remembers the in-place versions of `tensors`, the tensors this node's backward reads
  // (undefined ones are skipped).
  void save_versions_of(std::initializer_list<const Tensor*> tensors);
  // Throws kiln::Error naming the op if a tensor remembered by save_versions_of was written in
  // place since. run_backward calls it right before apply(), the one place saved tensors are read.
  void check_saved_versions() const;

  const OpInfo* op() const { return op_; }
  const char* name() const;
  uint64_t sequence_nr() const { return seq_; }
  std::vector<Edge> next_edges;
  bool released = false;

  // Live node count: lets tests prove that no-grad inference builds no graph.
  static int64_t live_count();

 protected:
  Node(const OpInfo* op, uint64_t seq);
  // What release() drops besides the remembered versions (the backward's captured tensors).
  virtual void release_saved() {}

 private:
  // A saved tensor's storage and its version when saved. Holding the storage keeps the counter
  // readable whatever else the node keeps.
  struct SavedVersion {
    std::shared_ptr<const Storage> storage;
    uint64_t version;
  };
  const OpInfo* op_;
  uint64_t seq_;
  std::vector<SavedVersion> saved_versions_;
};

// Backward as a closure: the common way ops record themselves.
class LambdaNode final : public Node {
 public:
  using Fn = std::function<std::vector<Tensor>(const Tensor&)>;
  LambdaNode(const OpInfo* op, Fn fn) : Node(op), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const Tensor& g) override { return fn_(g); }

 private:
  void release_saved() override { fn_ = nullptr; }
  Fn fn_;
};

// True when an op with these inputs must record a node.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as produced by `op` from `inputs`, with `backward` mapping d out to d inputs.
// No-op when recording is not needed. Returns out for chaining.
Tensor record(const OpInfo& op, const Tensor& out, const std::vector<Tensor>& inputs,
              LambdaNode::Fn backward);
// The same for a backward that reads tensors it captured: `saved` lists every one of them
// (undefined entries are skipped), so that an in-place write to any of them between this op and
// its backward is caught (Node::check_saved_versions) instead of giving a wrong gradient.
Tensor record(const OpInfo& op, const Tensor& out, const std::vector<Tensor>& inputs,
              std::initializer_list<const Tensor*> saved, LambdaNode::Fn backward);

// Records `out` as produced by a custom `node` (a Node subclass) from `inputs`: fills the node's
// edges and marks out as requiring grad. Unlike record() it always records (the caller decides).
Tensor record_node(std::shared_ptr<Node> node, const Tensor& out,
                   const std::vector<Tensor>& inputs);

// Runs backward from `roots` with the given seed gradients (same length). Gradients of leaves are
// accumulated into their .grad(); intermediate gradients are not kept.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
                  bool retain_graph);
// The same, except that for each of `captured` (leaves requiring grad) the arriving gradient
// contributions are returned, unsummed and in arrival order, instead of accumulated into .grad.
std::vector<std::vector<Tensor>> run_backward_capturing(const std::vector<Tensor>& roots,
                                                        const std::vector<Tensor>& seeds,
                                                        const std::vector<Tensor>& captured);

}  // namespace kiln
