#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/autocast.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace kiln::train {
namespace {

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nullptr;
}

}  // namespace

nlohmann::json TrainState::to_json() const {
  return {{"epoch", epoch},
          {"position", position},
          {"global_step", global_step},
          {"shuffle_seed", shuffle_seed},
          {"shuffle_offset", shuffle_offset},
          {"dropout_seed", dropout_seed},
          {"dropout_offset", dropout_offset},
          {"best_metric", finite_or_null(best_metric)},
          {"best_epoch", best_epoch},
          {"bad_epochs", bad_epochs},
          {"finished", finished}};
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  TrainState s;
  s.epoch = j.at("epoch").get<int64_t>();
  s.position = j.at("position").get<int64_t>();
  s.global_step = j.at("global_step").get<int64_t>();
  s.shuffle_seed = j.at("shuffle_seed").get<uint64_t>();
  s.shuffle_offset = j.at("shuffle_offset").get<uint64_t>();
  s.dropout_seed = j.at("dropout_seed").get<uint64_t>();
  s.dropout_offset = j.at("dropout_offset").get<uint64_t>();
  if (!j.at("best_metric").is_null()) s.best_metric = j.at("best_metric").get<double>();
  s.best_epoch = j.at("best_epoch").get<int64_t>();
  s.bad_epochs = j.at("bad_epochs").get<int64_t>();
  s.finished = j.at("finished").get<bool>();
  return s;
}

std::vector<double> auto_class_weights(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const auto seen = std::count_if(counts.begin(), counts.end(), [](int64_t c) { return c > 0; });
  std::vector<double> w(counts.size(), 1.0);
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0)
      w[c] =
          static_cast<double>(total) / (static_cast<double>(seen) * static_cast<double>(counts[c]));
  return w;
}

Trainer::Trainer(nn::Model& model, const Task& task, const TaskSetup& setup,
                 const TaskData& train_data, const TaskData* eval_data, TrainOptions options)
    : model_(model),
      task_(task),
      setup_(setup),
      train_(train_data),
      eval_(eval_data),
      options_(std::move(options)),
      optimizer_(make_optimizer(options_.optimizer, model.named_parameters(), [&] {
        OptimizerOptions o;
        o.lr = options_.learning_rate;
        o.weight_decay = options_.weight_decay;
        o.momentum = options_.momentum;
        o.nesterov = options_.nesterov;
        o.decay = OptimizerOptions::Decay::NotBiasesAndNorms;  // as the Hugging Face Trainer
        return o;
      }())) {
  KILN_CHECK(train_.size() > 0, "no training examples");
  KILN_CHECK(options_.batch_size >= 1 && options_.grad_accumulation >= 1 && options_.epochs >= 1,
             "batch size, gradient accumulation steps and epochs must be at least 1");
  if (options_.gradient_checkpointing) model_.set_gradient_checkpointing(true);
  const std::vector<std::string> known = task_.selection_metrics();
  metric_ = options_.metric.empty() ? known.at(0) : options_.metric;
  if (std::find(known.begin(), known.end(), metric_) == known.end()) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error("--metric '" + metric_ + "' is not computed for this task (expected one of " +
                list + ")");
  }
  dropout_seed_ = initial_state().dropout_seed;  // for accumulate() called without run()
  const int64_t nl = static_cast<int64_t>(setup_.labels.size());
  if (!options_.loss.class_weights.empty())
    KILN_CHECK(static_cast<int64_t>(options_.loss.class_weights.size()) == nl,
               "--class-weights has ", options_.loss.class_weights.size(),
               " values but the model has ", nl, " labels");
}

TrainState Trainer::initial_state() const {
  TrainState s;
  // Distinct Philox keys give independent streams; the init stream uses `seed` itself.
  s.shuffle_seed = options_.seed + 1;
  s.dropout_seed = options_.seed + 2;
  return s;
}

void Trainer::restore(const OptimizerState& optimizer_state) {
  optimizer_->load_state_dict(optimizer_state);
}

int64_t count_updates(size_t examples, const TrainOptions& options) {
  const int64_t n = static_cast<int64_t>(examples);
  const int64_t micro = (n + options.batch_size - 1) / options.batch_size;
  const int64_t per_update =
      options.grad_accumulation * (options.distributed ? options.distributed->size() : 1);
  return (micro + per_update - 1) / per_update * options.epochs;
}

uint64_t micro_batch_dropout_seed(uint64_t dropout_seed, uint64_t index) {
  // One Philox block keyed by the run's dropout seed, at a counter region ("drop" << 32) that the
  // run's own draws never reach: a fresh, independent key per micro-batch.
  const auto w = philox4x32(dropout_seed, uint64_t{0x64726f70} << 32, index);
  return (static_cast<uint64_t>(w[0]) << 32) | w[1];
}

std::vector<size_t> Trainer::epoch_order(Generator& shuffle) const {
  std::vector<size_t> order(train_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i)  // Fisher-Yates
    std::swap(order[i - 1], order[shuffle.next_u64() % i]);
  return order;
}

std::vector<std::vector<std::vector<size_t>>> Trainer::epoch_groups(
    const std::vector<size_t>& order) const {
  std::vector<std::vector<std::vector<size_t>>> groups;
  const size_t bs = static_cast<size_t>(options_.batch_size);
  for (size_t start = 0; start < order.size(); start += bs) {
    if (groups.empty() ||
        groups.back().size() == static_cast<size_t>(options_.grad_accumulation * world_size()))
      groups.emplace_back();
    groups.back().emplace_back(order.begin() + start,
                               order.begin() + std::min(order.size(), start + bs));
  }
  return groups;
}

std::pair<size_t, size_t> Trainer::rank_share(size_t group_size) const {
  if (!options_.distributed) return {0, group_size};
  // Rank r takes micro-batches [r A, (r + 1) A) of the group; a short last group leaves the last
  // ranks fewer or none (they then contribute no gradient).
  const auto per_rank = static_cast<size_t>(options_.grad_accumulation);
  const auto r = static_cast<size_t>(options_.distributed->rank());
  return {std::min(group_size, r * per_rank), std::min(group_size, (r + 1) * per_rank)};
}

double Trainer::accumulate(const std::vector<std::vector<size_t>>& group) {
  double denom = 0;
  for (const auto& mb : group) denom += task_.target_weight(train_, mb, options_.loss);
  const uint64_t first_micro_batch = micro_batches_;
  micro_batches_ += group.size();
  if (denom <= 0) return 0.0;  // nothing scored (e.g. every word truncated away)
  double total = 0;
  // One bf16 autocast scope per update (core/autocast.h), for all its micro-batches.
  std::optional<Bf16AutocastGuard> autocast;
  if (options_.bf16) autocast.emplace(true);
  const auto [share_begin, share_end] = rank_share(group.size());
  for (size_t k = share_begin; k < share_end; ++k) {
    const auto& mb = group[k];
    // Micro-batch k's dropout is the same whichever rank, or which process, computes it.
    dropout_gen_.set_state(micro_batch_dropout_seed(dropout_seed_, first_micro_batch + k), 0);
    const Batch b = task_.collate_for_training(train_, mb, setup_, {options_.seed, epoch_});
    Tensor loss = task_.loss(model_.forward(b.inputs), b, options_.loss);
    total += loss.item();
    mul(loss, 1.0 / denom).backward();
  }
  if (world_size() > 1) {
    const auto start = std::chrono::steady_clock::now();
    total = sum_gradients_over_ranks(total);
    sum_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return total / denom;
}

double Trainer::sum_gradients_over_ranks(double local_loss) {
  Distributed& world = *options_.distributed;
  const NamedParams& params = optimizer_->params();
  // One flat buffer, a segment per parameter, present where this rank has a gradient: summed in
  // rank order as AccumulateGrad sums micro-batches (the first gradient, then plus the next), the
  // result is bit for bit what one process accumulating the same micro-batches holds.
  std::vector<size_t> ends;
  std::vector<uint8_t> present;
  size_t n = 0;
  for (const auto& [name, p] : params) {
    KILN_CHECK(p->dtype() == DType::F32, "data-parallel training needs f32 parameters; ", name,
               " is ", p->describe());
    n += static_cast<size_t>(p->numel());
    ends.push_back(n);
    present.push_back(p->grad().defined() ? 1 : 0);
  }
  std::vector<float> flat(n);
  size_t at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (present[i]) {
      const Tensor g = params[i].second->grad().to(DType::F32).contiguous();
      std::memcpy(flat.data() + at, g.data<float>(), g.nbytes());
    }
    at = ends[i];
  }
  world.sum_in_rank_order(flat.data(), ends, present);
  at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = *params[i].second;
    const size_t count = ends[i] - at;
    if (!present[i]) {
      p.zero_grad();
    } else {
      Tensor g = Tensor::empty(p.shape());
      std::memcpy(g.data<float>(), flat.data() + at, count * sizeof(float));
      p.set_grad(g);
    }
    at = ends[i];
  }
  // The losses too, in rank order: exactly the single process's running sum.
  double total = 0;
  for (double l : world.all_gather(local_loss)) total += l;
  return total;
}

bool Trainer::stop_requested_anywhere(const TrainHooks& hooks) {
  const bool here = hooks.stop_requested && hooks.stop_requested();
  // Every rank must leave the loop at the same update, or the others wait for it forever.
  return world_size() > 1 ? options_.distributed->any(here) : here;
}

nlohmann::json Trainer::evaluate_on_rank0() {
  if (world_size() == 1) return evaluate();
  // One rank evaluates and the others take its metrics, so that every rank makes the same
  // best-model and early-stopping decisions (the model is the same on all of them).
  // CBOR keeps every double exactly, NaN included.
  nlohmann::json metrics;
  std::string bytes;
  if (options_.distributed->rank() == 0) {
    metrics = evaluate();
    const std::vector<uint8_t> cbor = nlohmann::json::to_cbor(metrics);
    bytes.assign(cbor.begin(), cbor.end());
  }
  options_.distributed->broadcast(bytes);
  return options_.distributed->rank() == 0 ? metrics : nlohmann::json::from_cbor(bytes);
}

nlohmann::json Trainer::evaluate() {
  KILN_CHECK(eval_ != nullptr, "no evaluation data");
  // The loop `kiln eval` runs, so a run's eval records equal kiln eval of its model.
  return train::evaluate(model_, task_, setup_, *eval_, static_cast<size_t>(options_.batch_size));
}

TrainState Trainer::run(TrainState state, const TrainHooks& hooks) {
  using Clock = std::chrono::steady_clock;
  Schedule schedule{options_.schedule, total_updates(), options_.warmup_steps,
                    options_.schedule_step_size, options_.schedule_gamma};
  dropout_seed_ = state.dropout_seed;
  micro_batches_ = state.dropout_offset;
  if (world_size() > 1) {
    // Ranks that start from different weights or data would silently train different models.
    uint64_t weights = 0;
    for (const auto& [name, p] : optimizer_->params()) {
      const Tensor c = p->contiguous();
      weights = fingerprint64(c.raw_data(), c.nbytes(), weights);
    }
    check_same_on_all_ranks(*options_.distributed, weights, "the model's initial weights");
    uint64_t data = train_.size();
    for (size_t i = 0; i < train_.size(); ++i) data = data * 31 + train_.tokens(i);
    check_same_on_all_ranks(*options_.distributed, data, "the training data (examples, tokens)");
  }
  model_.set_dropout_generator(&dropout_gen_);
  model_.train();
  model_.zero_grad();
  const double no_clip = std::numeric_limits<double>::infinity();
  const double clip = options_.max_grad_norm > 0 ? options_.max_grad_norm : no_clip;
  int64_t session_epochs = 0, session_updates = 0;
  bool stop = false, interrupted = false;
  while (!state.finished && state.epoch < options_.epochs) {
    Generator shuffle;
    shuffle.set_state(state.shuffle_seed, state.shuffle_offset);
    epoch_ = state.epoch;
    const auto groups = epoch_groups(epoch_order(shuffle));
    double loss_sum = 0;
    int64_t loss_count = 0, tokens = 0;
    auto window_start = Clock::now();
    for (size_t g = static_cast<size_t>(state.position); g < groups.size(); ++g) {
      for (const auto& mb : groups[g])
        for (size_t i : mb) tokens += train_.tokens(i);
      const double loss = accumulate(groups[g]);
      const double grad_norm = clip_grad_norm(optimizer_->params(), clip);
      // A non-finite loss or gradient would poison the weights and every later step: stop with
      // the last checkpoint intact instead.
      KILN_CHECK(std::isfinite(loss) && std::isfinite(grad_norm), "update ", state.global_step + 1,
                 " (epoch ", state.epoch + 1, "): the ",
                 std::isfinite(loss) ? "gradient norm" : "loss", " is ",
                 std::isfinite(loss) ? grad_norm : loss,
                 "; training stopped (lower --learning-rate, or check the data); the last "
                 "checkpoint is unchanged");
      const double lr = options_.learning_rate * schedule.factor(state.global_step);
      optimizer_->set_lr(lr);
      optimizer_->step();
      optimizer_->zero_grad();
      ++state.global_step;
      state.position = static_cast<int64_t>(g + 1);
      loss_sum += loss;
      ++loss_count;
      if (hooks.progress) hooks.progress(state.global_step, total_updates(), loss);
      const bool epoch_end = g + 1 == groups.size();
      if (state.global_step % std::max<int64_t>(1, options_.logging_steps) == 0 || epoch_end) {
        const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
        if (hooks.log) {
          nlohmann::json record = {
              {"step", state.global_step},
              {"epoch", static_cast<double>(state.epoch) +
                            static_cast<double>(g + 1) / static_cast<double>(groups.size())},
              {"loss", loss_sum / static_cast<double>(loss_count)},
              {"lr", lr},
              {"grad_norm", finite_or_null(grad_norm)},
              {"tokens_per_s", secs > 0 ? static_cast<double>(tokens) / secs : 0.0}};
          // Data-parallel: seconds of this window spent summing gradients over the ranks.
          if (world_size() > 1) record["gradient_sum_s"] = std::round(sum_seconds_ * 1e4) / 1e4;
          hooks.log(record);
        }
        sum_seconds_ = 0;
        loss_sum = 0, loss_count = 0, tokens = 0;
        window_start = Clock::now();
      }
      bool saved = false;
      if (options_.save_steps > 0 && state.global_step % options_.save_steps == 0 && !epoch_end &&
          hooks.checkpoint) {
        state.dropout_offset = micro_batches_;
        hooks.checkpoint(state);
        saved = true;
      }
      if (options_.stop_after_steps > 0 && ++session_updates >= options_.stop_after_steps) {
        stop = true;
        if (epoch_end) break;  // the epoch-end checkpoint below covers it
        state.dropout_offset = micro_batches_;
        if (hooks.checkpoint && !saved) hooks.checkpoint(state);
        break;
      }
      if (stop_requested_anywhere(hooks)) {
        // Even after the epoch's last update: checkpointed with position == groups.size(), the
        // resumed run goes straight to this epoch's evaluation, so stopping waits for no eval.
        interrupted = true;
        state.dropout_offset = micro_batches_;
        if (hooks.checkpoint && !saved) hooks.checkpoint(state);
        break;
      }
    }
    if (interrupted || state.position < static_cast<int64_t>(groups.size()))
      break;  // stopped mid-epoch (or before this epoch's evaluation)
    // End of epoch: evaluate, keep the best model, decide on early stopping, checkpoint.
    if (eval_) {
      nlohmann::json metrics = evaluate_on_rank0();
      const double value = metrics.at(metric_).get<double>();
      if (hooks.log)
        hooks.log({{"epoch", state.epoch + 1}, {"step", state.global_step}, {"eval", metrics}});
      if (value > state.best_metric) {
        state.best_metric = value;
        state.best_epoch = state.epoch + 1;
        state.bad_epochs = 0;
        if (hooks.save_best) hooks.save_best(state);
      } else if (options_.patience > 0 && ++state.bad_epochs >= options_.patience) {
        state.finished = true;
      }
    } else {
      state.best_epoch = state.epoch + 1;  // without evaluation the latest model is the one kept
      if (hooks.save_best) hooks.save_best(state);
    }
    ++state.epoch;
    state.position = 0;
    state.shuffle_offset = shuffle.offset();
    state.dropout_offset = micro_batches_;
    if (state.epoch >= options_.epochs) state.finished = true;
    if (hooks.checkpoint) hooks.checkpoint(state);
    if (stop || (options_.stop_after_epochs > 0 && ++session_epochs >= options_.stop_after_epochs))
      break;
    if (stop_requested_anywhere(hooks)) break;  // asked during the evaluation
  }
  model_.eval();
  model_.set_dropout_generator(nullptr);
  return state;
}

}  // namespace kiln::train
