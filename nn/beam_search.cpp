// Beam search as transformers 4.30.2's beam_search + BeamSearchScorer: each step ranks
// log_softmax(logits) after the processors plus the running beam score over num_beams x vocab,
// keeps the top 2 * num_beams candidates, turns an end-of-sequence candidate ranked within the
// top num_beams into a finished hypothesis (stored without its EOS, scored sum_logprobs /
// length^length_penalty) and continues the best num_beams others. An input is done by its
// early_stopping rule; inputs that are done leave the batch.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "nn/generation_detail.h"

namespace kiln::nn::detail {

namespace {

// The n-best list of finished hypotheses of one input (BeamHypotheses).
class FinishedHypotheses {
 public:
  FinishedHypotheses(const GenerationConfig& c, int64_t max_length)
      : num_beams_(c.num_beams),
        length_penalty_(c.length_penalty),
        early_stopping_(c.early_stopping),
        max_length_(max_length) {}

  void add(std::vector<int64_t> ids, double sum_logprobs) {
    const double score = sum_logprobs / std::pow(static_cast<double>(ids.size()), length_penalty_);
    if (size() < num_beams_ || score > worst_score_) {
      hyps_.push_back({score, std::move(ids)});
      if (size() > num_beams_) {
        // Drop the worst (the first of equal worst ones, as Python's sort of (score, index)).
        std::vector<size_t> order(hyps_.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return hyps_[a].score < hyps_[b].score; });
        worst_score_ = hyps_[order[1]].score;
        hyps_.erase(hyps_.begin() + static_cast<std::ptrdiff_t>(order[0]));
      } else {
        worst_score_ = std::min(score, worst_score_);
      }
    }
  }

  // best_sum_logprobs: the best candidate score of this step; cur_len: the length the
  // candidates have (transformers passes input_ids length + 1).
  bool is_done(double best_sum_logprobs, int64_t cur_len) const {
    if (size() < num_beams_) return false;
    switch (early_stopping_) {
      case EarlyStopping::True:
        return true;
      case EarlyStopping::False:
        return worst_score_ >=
               best_sum_logprobs / std::pow(static_cast<double>(cur_len), length_penalty_);
      case EarlyStopping::Never: {
        const double len = length_penalty_ > 0 ? max_length_ : cur_len;
        return worst_score_ >= best_sum_logprobs / std::pow(len, length_penalty_);
      }
    }
    return false;
  }

  // The best `n`, best first; among equal scores the one added last wins (Python's stable sort
  // then pop() from the end).
  std::vector<std::pair<double, std::vector<int64_t>>> best(int64_t n) {
    std::vector<size_t> order(hyps_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return hyps_[a].score < hyps_[b].score; });
    std::vector<std::pair<double, std::vector<int64_t>>> out;
    for (int64_t j = 0; j < n && !order.empty(); ++j) {
      const Hypothesis& h = hyps_[order.back()];
      order.pop_back();
      out.push_back({h.score, h.ids});
    }
    return out;
  }

  int64_t size() const { return static_cast<int64_t>(hyps_.size()); }

 private:
  struct Hypothesis {
    double score;
    std::vector<int64_t> ids;
  };
  int64_t num_beams_;
  double length_penalty_;
  EarlyStopping early_stopping_;
  int64_t max_length_;
  std::vector<Hypothesis> hyps_;
  double worst_score_ = 1e9;
};

struct Beam {
  std::vector<int64_t> ids;
  float score = 0.0f;  // running sum of log-probabilities, float32 as in torch
};

struct InputBeams {
  int64_t input = 0;
  std::vector<Beam> beams;
  FinishedHypotheses finished;
  bool done = false;
};

}  // namespace

std::vector<std::vector<GeneratedSequence>> beam_search(const GenerationSetup& s,
                                                        DecodingState& state) {
  const GenerationConfig& c = s.config;
  const int64_t nb = c.num_beams, vocab = s.vocab;
  const LogitsProcessors processors(c);

  std::vector<InputBeams> active;
  std::vector<int64_t> expand;
  for (int64_t i = 0; i < s.inputs; ++i) {
    InputBeams in{i, {}, FinishedHypotheses(c, s.max_length)};
    // Only the first beam is live at first: the others start at -1e9 so that the first step
    // does not pick the same token num_beams times.
    for (int64_t b = 0; b < nb; ++b) {
      in.beams.push_back({{s.start_token}, b == 0 ? 0.0f : -1e9f});
      expand.push_back(i);
    }
    active.push_back(std::move(in));
  }
  state.select_rows(expand);
  std::vector<InputBeams> finished_inputs;

  std::vector<float> candidates(static_cast<size_t>(nb * vocab));
  std::vector<int64_t> order(static_cast<size_t>(nb * vocab));
  for (int64_t step = 0;; ++step) {
    if (s.hooks.stop_requested && s.hooks.stop_requested()) throw Error("generation interrupted");
    std::vector<int64_t> last;
    for (const InputBeams& in : active)
      for (const Beam& b : in.beams) last.push_back(b.ids.back());
    std::vector<float> logits = step_logits(s, state, last);
    const int64_t cur_len = static_cast<int64_t>(active.front().beams.front().ids.size());

    std::vector<int64_t> source_rows;  // the row each new beam continues, for the caches
    for (size_t a = 0; a < active.size(); ++a) {
      InputBeams& in = active[a];
      for (int64_t b = 0; b < nb; ++b) {
        float* row = logits.data() + (static_cast<int64_t>(a) * nb + b) * vocab;
        log_softmax_row(row, vocab);
        processors.process(row, vocab, in.beams[static_cast<size_t>(b)].ids, s.ngrams_of(in.input));
        if (s.hooks.on_scores) s.hooks.on_scores(step, in.input, row, vocab);
        const float running = in.beams[static_cast<size_t>(b)].score;
        float* cand = candidates.data() + b * vocab;
        for (int64_t v = 0; v < vocab; ++v) cand[v] = row[v] + running;
      }
      // Top 2 * num_beams, best first; equal scores in index order.
      const int64_t k = std::min<int64_t>(2 * nb, nb * vocab);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t x, int64_t y) {
        const float sx = candidates[static_cast<size_t>(x)],
                    sy = candidates[static_cast<size_t>(y)];
        return sx > sy || (sx == sy && x < y);
      });
      std::vector<Beam> next;
      for (int64_t rank = 0; rank < k && static_cast<int64_t>(next.size()) < nb; ++rank) {
        const int64_t idx = order[static_cast<size_t>(rank)];
        const int64_t beam = idx / vocab, token = idx % vocab;
        const float score = candidates[static_cast<size_t>(idx)];
        const Beam& from = in.beams[static_cast<size_t>(beam)];
        if (c.is_eos(token)) {
          // An end-of-sequence candidate outside the top num_beams is not a hypothesis.
          if (rank >= nb) continue;
          in.finished.add(from.ids, static_cast<double>(score));
        } else {
          Beam nbeam{from.ids, score};
          nbeam.ids.push_back(token);
          next.push_back(std::move(nbeam));
          source_rows.push_back(static_cast<int64_t>(a) * nb + beam);
        }
      }
      KILN_CHECK(static_cast<int64_t>(next.size()) == nb, "beam search: more than ", nb,
                 " of the best ", k, " candidates end the sequence");
      in.beams = std::move(next);
      in.done = in.finished.is_done(candidates[static_cast<size_t>(order[0])], cur_len + 1);
    }
    if (cur_len + 1 >= s.max_length) break;  // every input ends here (finalised below)

    // Inputs that are done leave the batch; the others' caches follow their new beams.
    std::vector<InputBeams> still;
    std::vector<int64_t> rows;
    for (size_t a = 0; a < active.size(); ++a) {
      if (active[a].done) {
        finished_inputs.push_back(std::move(active[a]));
        continue;
      }
      rows.insert(rows.end(), source_rows.begin() + static_cast<std::ptrdiff_t>(a * nb),
                  source_rows.begin() + static_cast<std::ptrdiff_t>((a + 1) * nb));
      still.push_back(std::move(active[a]));
    }
    active = std::move(still);
    if (active.empty()) break;
    state.select_rows(rows);
  }

  // Inputs still open at max_length: every beam becomes a hypothesis with its running score.
  for (InputBeams& in : active) {
    if (!in.done)
      for (Beam& b : in.beams) in.finished.add(std::move(b.ids), static_cast<double>(b.score));
    finished_inputs.push_back(std::move(in));
  }
  std::vector<std::vector<GeneratedSequence>> out(static_cast<size_t>(s.inputs));
  for (InputBeams& in : finished_inputs) {
    for (auto& [score, ids] : in.finished.best(c.num_return_sequences)) {
      GeneratedSequence g;
      g.ids = std::move(ids);
      if (static_cast<int64_t>(g.ids.size()) < s.max_length)
        g.ids.push_back(c.eos_token_ids.front());
      // transformers returns sequences_scores as float32.
      g.score = static_cast<double>(static_cast<float>(score));
      out[static_cast<size_t>(in.input)].push_back(std::move(g));
    }
  }
  return out;
}

}  // namespace kiln::nn::detail
