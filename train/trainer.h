// The fine-tuning loop for any model family and any task (train/task.h): seeded shuffling,
// micro-batches with gradient accumulation, AdamW with a warm-up/decay schedule, gradient clipping,
// per-epoch evaluation with early stopping, and a state (TrainState + optimizer moments) that a
// checkpoint captures so a resumed run continues bit-exactly. Files (logs, checkpoints, the best
// model) are the caller's business, through hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "nn/model.h"
#include "train/distributed.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/task.h"

namespace kiln::train {

struct TrainOptions {
  std::string optimizer = "adamw";  // make_optimizer kind: adamw or sgd
  double learning_rate = 5e-5, weight_decay = 0.0;
  double momentum = 0.0;  // sgd
  bool nesterov = false;  // sgd
  int64_t warmup_steps = 0;
  ScheduleKind schedule = ScheduleKind::Linear;
  int64_t schedule_step_size = 1;  // Step: updates between decays
  double schedule_gamma = 0.1;     // Step: decay factor
  int64_t batch_size = 8, grad_accumulation = 1;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  LossOptions loss;            // class weights, label smoothing
  uint64_t seed = 42;
  int64_t epochs = 3;
  std::string metric;    // eval metric to select on; empty: the task's first selection metric
  int64_t patience = 0;  // epochs without improvement before stopping; 0: never
  int64_t logging_steps = 10;
  int64_t save_steps = 0;         // extra checkpoints every N updates; 0: epoch ends only
  int64_t stop_after_epochs = 0;  // end this session after N epochs (resume later); 0: all
  int64_t stop_after_steps = 0;   // end this session after N updates, checkpointed; 0: all
  // bf16 mixed precision (core/autocast.h): the GEMMs of every forward and backward in bf16 with
  // f32 accumulation; weights, gradients, optimizer moments, norms, softmax and losses stay f32.
  bool bf16 = false;
  // Recompute each layer's activations in backward instead of keeping them (core/checkpoint.h);
  // gradients are bit-identical. The model family must support it.
  bool gradient_checkpointing = false;
  // Data-parallel ranks (train/distributed.h); null: this process alone. An update's group then
  // holds grad_accumulation micro-batches per rank, rank r computing the r-th share, and the
  // gradients are summed in rank order, so that with grad_accumulation 1, N ranks update the
  // weights exactly as one process with grad_accumulation N does.
  Distributed* distributed = nullptr;
};

// Everything besides weights and optimizer moments that a resumed run needs.
struct TrainState {
  int64_t epoch = 0;                              // current epoch (0-based)
  int64_t position = 0;                           // optimizer updates already done in this epoch
  int64_t global_step = 0;                        // optimizer updates done in all
  uint64_t shuffle_seed = 0, shuffle_offset = 0;  // shuffle generator at the epoch's start
  // dropout_offset counts the micro-batches trained in all: micro-batch m draws its dropout from
  // a stream of its own (micro_batch_dropout_seed), so that a rank can train micro-batch m
  // without first drawing the dropout of the micro-batches before it.
  uint64_t dropout_seed = 0, dropout_offset = 0;
  double best_metric = -std::numeric_limits<double>::infinity();
  int64_t best_epoch = -1;
  int64_t bad_epochs = 0;  // evaluations since the last improvement
  bool finished = false;

  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j);
};

// What the loop reports; every hook is optional.
struct TrainHooks {
  std::function<void(const nlohmann::json&)> log;  // a metrics.jsonl record
  std::function<void(const TrainState&)> checkpoint;
  std::function<void(const TrainState&)> save_best;
  // After each update: updates done, total updates, smoothed loss.
  std::function<void(int64_t, int64_t, double)> progress;
  // Polled after each update (and after each epoch's end): true ends the session there with a
  // checkpoint, as --stop-after-steps does, so that --resume continues bit-exactly. At an epoch's
  // last update the checkpoint comes before the evaluation, which the resumed run then does.
  // (Ctrl-C in `kiln train`.)
  std::function<bool()> stop_requested;
};

// "auto" weights for cross-entropy from the scored targets per class (Task::target_counts):
// inverse class frequency, normalised so that they average 1 over the classes seen
// (n_targets / (n_seen_classes * count)); classes never seen get 1.
std::vector<double> auto_class_weights(const std::vector<int64_t>& counts);

// Optimizer updates in a whole run over `examples` training examples.
int64_t count_updates(size_t examples, const TrainOptions& options);

// The seed of the dropout stream of the run's micro-batch `index` (0-based, counted over the whole
// run and all ranks): independent Philox keys derived from the run's dropout seed.
uint64_t micro_batch_dropout_seed(uint64_t dropout_seed, uint64_t index);

class Trainer {
 public:
  // `model`, `task`, the setup and the data must outlive the trainer; the model's parameters are
  // trained in place. The data must be encoded (Task::encode) with `setup`.
  Trainer(nn::Model& model, const Task& task, const TaskSetup& setup, const TaskData& train_data,
          const TaskData* eval_data, TrainOptions options);

  // Fresh run: seeds the shuffle and dropout generators from options.seed.
  TrainState initial_state() const;
  // Restores optimizer moments and generators (for --resume).
  void restore(const OptimizerState& optimizer_state);
  const Optimizer& optimizer() const { return *optimizer_; }

  // Trains from `state` until all epochs are done, early stopping triggers,
  // options.stop_after_epochs epochs / stop_after_steps updates have run in this session, or
  // hooks.stop_requested says so (with a checkpoint there). Returns the final state.
  TrainState run(TrainState state, const TrainHooks& hooks);

  // Computes the gradients of one update over `group` (micro-batches of example indices) without
  // stepping; returns the big-batch mean loss. Each micro-batch's summed loss is divided by the
  // target weight of the whole group, so the gradient equals that of one batch holding them all.
  // Data-parallel: this rank computes its share of the group (rank_share) and the gradients and
  // losses of all ranks are summed in rank order, so every rank ends with the same gradients.
  double accumulate(const std::vector<std::vector<size_t>>& group);

  // The task's evaluation metrics on the eval set (no dropout, no gradients).
  nlohmann::json evaluate();

  int64_t total_updates() const { return count_updates(train_.size(), options_); }
  const std::string& metric_name() const { return metric_; }

 private:
  std::vector<size_t> epoch_order(Generator& shuffle) const;
  std::vector<std::vector<std::vector<size_t>>> epoch_groups(
      const std::vector<size_t>& order) const;
  // Data-parallel helpers; each is the plain single-process step without options_.distributed.
  int world_size() const { return options_.distributed ? options_.distributed->size() : 1; }
  std::pair<size_t, size_t> rank_share(size_t group_size) const;  // [first, last) micro-batches
  double sum_gradients_over_ranks(double local_loss);
  bool stop_requested_anywhere(const TrainHooks& hooks);
  nlohmann::json evaluate_on_rank0();

  nn::Model& model_;
  int64_t epoch_ = 0;  // the epoch run() is in, for the task's training augmentation
  const Task& task_;
  const TaskSetup& setup_;
  const TaskData& train_;
  const TaskData* eval_;
  TrainOptions options_;
  std::string metric_;
  std::unique_ptr<Optimizer> optimizer_;
  Generator dropout_gen_;
  uint64_t dropout_seed_ = 0, micro_batches_ = 0;  // TrainState's dropout_seed / dropout_offset
  double sum_seconds_ = 0;  // in sum_gradients_over_ranks since the last logged step
};

}  // namespace kiln::train
