#include "core/checkpoint.h"

#include <memory>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/op_registry.h"
#include "core/ops.h"
#include "core/rng.h"

namespace kiln {

KILN_OP(kCheckpointOp, "checkpoint", true);

namespace {

thread_local bool recomputing = false;

// Marks the recomputation for checkpoint_recomputing(); restores the outer value (a checkpoint
// may nest inside another's recomputation).
class RecomputingGuard {
 public:
  RecomputingGuard() : previous_(recomputing) { recomputing = true; }
  ~RecomputingGuard() { recomputing = previous_; }
  RecomputingGuard(const RecomputingGuard&) = delete;
  RecomputingGuard& operator=(const RecomputingGuard&) = delete;

 private:
  bool previous_;
};

class CheckpointNode final : public Node {
 public:
  CheckpointNode(CheckpointFn fn, std::vector<Tensor> inputs, Generator* gen, uint64_t seed,
                 uint64_t start, uint64_t end, bool bf16)
      : Node(&kCheckpointOp),
        fn_(std::move(fn)),
        inputs_(std::move(inputs)),
        gen_(gen),
        seed_(seed),
        start_(start),
        end_(end),
        bf16_(bf16) {}

  std::vector<Tensor> apply(const Tensor& g) override {
    std::vector<std::vector<Tensor>> parts = apply_contributions(g);
    std::vector<Tensor> out(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      for (const Tensor& p : parts[i]) out[i] = out[i].defined() ? add(out[i], p) : p;
    }
    return out;
  }

  std::vector<std::vector<Tensor>> apply_contributions(const Tensor& g) override {
    KILN_CHECK(fn_, "checkpoint: backward through a released checkpoint");
    // Fresh leaves for the inputs that take gradients, the others as they were.
    std::vector<Tensor> leaves(inputs_.size()), captured;
    std::vector<size_t> captured_at;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Tensor& in = inputs_[i];
      leaves[i] = in.defined() ? in.detach() : in;
      if (next_edges[i].node) {
        leaves[i].set_requires_grad(true);
        captured.push_back(leaves[i]);
        captured_at.push_back(i);
      }
    }
    Tensor out;
    {
      // The generator as the forward saw it; put back afterwards for whatever runs next.
      const uint64_t now_seed = gen_ ? gen_->seed() : 0, now_offset = gen_ ? gen_->offset() : 0;
      if (gen_) gen_->set_state(seed_, start_);
      EnableGradGuard grad_on;
      Bf16AutocastGuard autocast(bf16_);
      RecomputingGuard marked;
      out = fn_(leaves);
      const uint64_t reached = gen_ ? gen_->offset() : 0;
      if (gen_) gen_->set_state(now_seed, now_offset);
      KILN_CHECK(reached == end_, "checkpoint: the recomputation drew random counters [", start_,
                 ", ", reached, ") but the forward drew [", start_, ", ", end_,
                 "): the checkpointed function is not a pure function of its inputs");
    }
    KILN_CHECK(out.shape() == g.shape(), "checkpoint: the recomputation gave ", out.describe(),
               " but the forward gave shape ", shape_str(g.shape()));
    std::vector<std::vector<Tensor>> grads(inputs_.size());
    if (!out.requires_grad()) return grads;  // nothing inside depends on anything trainable
    std::vector<std::vector<Tensor>> parts = run_backward_capturing({out}, {g}, captured);
    for (size_t j = 0; j < captured_at.size(); ++j) grads[captured_at[j]] = std::move(parts[j]);
    return grads;
  }

 private:
  void release_saved() override {
    fn_ = nullptr;
    inputs_.clear();
  }
  CheckpointFn fn_;
  std::vector<Tensor> inputs_;
  Generator* gen_;
  uint64_t seed_, start_, end_;
  bool bf16_;
};

}  // namespace

bool checkpoint_recomputing() {
  return recomputing;
}

Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs, Generator* gen) {
  if (!grad_enabled()) return fn(inputs);
  const uint64_t seed = gen ? gen->seed() : 0, start = gen ? gen->offset() : 0;
  std::vector<Tensor> saved(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined()) saved[i] = inputs[i].detach();
  Tensor out;
  {
    NoGradGuard no_grad;  // nothing inside is recorded: its activations go as soon as used
    out = fn(saved);
  }
  for (const Tensor& s : saved)  // fn returned an input itself: give the result its own handle
    if (s.defined() && out.same(s)) out = s.detach();
  KILN_CHECK(is_floating(out.dtype()),
             "checkpoint: the function must return a floating tensor, got ", out.describe());
  auto node = std::make_shared<CheckpointNode>(std::move(fn), saved, gen, seed, start,
                                               gen ? gen->offset() : 0, bf16_autocast_enabled());
  for (const Tensor& in : saved) node->save_versions_of({&in});
  // Whatever the inputs, the parameters inside may want gradients: the node is always recorded.
  return record_node(std::move(node), out, inputs);
}

}  // namespace kiln
