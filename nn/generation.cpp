#include "nn/generation.h"

#include <cmath>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/generation_detail.h"

namespace kiln::nn {

namespace detail {

std::vector<float> step_logits(const GenerationSetup& setup, DecodingState& state,
                               const std::vector<int64_t>& last_tokens) {
  const int64_t rows = static_cast<int64_t>(last_tokens.size());
  const Tensor logits =
      setup.model.decode_step(state, Tensor::from_ints(last_tokens, {rows})).contiguous();
  KILN_CHECK(logits.dtype() == DType::F32 && logits.numel() == rows * setup.vocab,
             "decode_step returned ", logits.describe(), " instead of [", rows, ", ", setup.vocab,
             "] float32 logits");
  const float* p = logits.data<float>();
  return std::vector<float>(p, p + rows * setup.vocab);
}

}  // namespace detail

namespace {

using detail::GenerationSetup;

// Index of the first largest score (torch.argmax's choice among ties).
int64_t argmax_row(const float* scores, int64_t vocab) {
  int64_t best = 0;
  for (int64_t v = 1; v < vocab; ++v)
    if (scores[v] > scores[best]) best = v;
  return best;
}

// multinomial(softmax(scores)) with one uniform draw u in [0, 1).
int64_t sample_row(const float* scores, int64_t vocab, double u) {
  float max = scores[0];
  for (int64_t v = 1; v < vocab; ++v) max = std::max(max, scores[v]);
  double total = 0;
  for (int64_t v = 0; v < vocab; ++v) total += std::exp(static_cast<double>(scores[v] - max));
  const double target = u * total;
  double cumulative = 0;
  int64_t last_possible = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    const double p = std::exp(static_cast<double>(scores[v] - max));
    if (p <= 0) continue;
    last_possible = v;
    cumulative += p;
    if (cumulative > target) return v;
  }
  return last_possible;  // rounding left u * total at the very end
}

// Greedy search (one sequence per input) and multinomial sampling (num_return_sequences per
// input): one row per sequence; a row leaves the batch when it ends.
std::vector<std::vector<GeneratedSequence>> greedy_or_sample(const GenerationSetup& s,
                                                             DecodingState& state,
                                                             uint64_t first_input_index) {
  const GenerationConfig& c = s.config;
  const int64_t per_input = c.do_sample ? c.num_return_sequences : 1;
  std::vector<std::vector<GeneratedSequence>> out(static_cast<size_t>(s.inputs));
  struct Row {
    int64_t input, sequence;
    std::vector<int64_t> ids;
  };
  std::vector<Row> rows;
  std::vector<int64_t> expand;
  for (int64_t i = 0; i < s.inputs; ++i) {
    out[static_cast<size_t>(i)].resize(static_cast<size_t>(per_input));
    for (int64_t j = 0; j < per_input; ++j) {
      rows.push_back({i, j, {s.start_token}});
      expand.push_back(i);
    }
  }
  if (per_input > 1) state.select_rows(expand);
  const LogitsProcessors processors(c);
  for (int64_t step = 0; !rows.empty(); ++step) {
    if (s.hooks.stop_requested && s.hooks.stop_requested()) throw Error("generation interrupted");
    std::vector<int64_t> last;
    for (const Row& r : rows) last.push_back(r.ids.back());
    std::vector<float> logits = detail::step_logits(s, state, last);
    std::vector<int64_t> keep;
    for (size_t a = 0; a < rows.size(); ++a) {
      Row& r = rows[a];
      float* scores = logits.data() + static_cast<int64_t>(a) * s.vocab;
      processors.process(scores, s.vocab, r.ids, s.ngrams_of(r.input));
      if (s.hooks.on_scores) s.hooks.on_scores(step, r.input, scores, s.vocab);
      int64_t token;
      if (c.do_sample) {
        processors.warp(scores, s.vocab);
        const uint64_t sequence_key = (first_input_index + static_cast<uint64_t>(r.input)) *
                                          static_cast<uint64_t>(per_input) +
                                      static_cast<uint64_t>(r.sequence);
        token = sample_row(scores, s.vocab,
                           Generator::uniform64_at(c.seed, (sequence_key << 24) | uint64_t(step)));
      } else {
        token = argmax_row(scores, s.vocab);
      }
      r.ids.push_back(token);
      if (s.hooks.on_token) s.hooks.on_token(r.input, r.sequence, token);
      const bool done = c.is_eos(token) || static_cast<int64_t>(r.ids.size()) >= s.max_length;
      if (done)
        out[static_cast<size_t>(r.input)][static_cast<size_t>(r.sequence)].ids = std::move(r.ids);
      else
        keep.push_back(static_cast<int64_t>(a));
    }
    if (keep.size() == rows.size()) continue;
    std::vector<Row> kept;
    for (int64_t a : keep) kept.push_back(std::move(rows[static_cast<size_t>(a)]));
    rows = std::move(kept);
    if (!rows.empty()) state.select_rows(keep);
  }
  return out;
}

}  // namespace

std::vector<std::vector<GeneratedSequence>> generate(const Seq2SeqLM& model,
                                                     const NamedTensors& inputs,
                                                     const GenerationConfig& config,
                                                     const GenerationHooks& hooks,
                                                     uint64_t first_input_index) {
  config.validate(model.vocab_size());
  const Tensor& ids = required_input(inputs, "input_ids");
  KILN_CHECK(ids.dim() == 2 && ids.size(0) >= 1, "input_ids must be [batch, length], got ",
             ids.describe());
  GenerationSetup s{model, config, hooks, 0, 0, 0, 0, 0, {}};
  s.inputs = ids.size(0);
  s.vocab = model.vocab_size();
  s.max_length = config.effective_max_length();
  s.start_token =
      config.decoder_start_token_id >= 0 ? config.decoder_start_token_id : config.bos_token_id;
  s.pad_token = config.effective_pad_token_id();
  if (config.encoder_no_repeat_ngram_size > 0) {
    // Each input's own tokens: padding is not part of the input (transformers would also take
    // the pad tokens of a padded batch, so that its batched and single results could differ).
    const std::vector<int64_t> all = ids.to_ints();
    const Tensor mask = optional_input(inputs, "attention_mask");
    const std::vector<int64_t> m = mask.defined() ? mask.to_ints() : std::vector<int64_t>();
    const int64_t len = ids.size(1);
    for (int64_t i = 0; i < s.inputs; ++i) {
      std::vector<int64_t> tokens;
      for (int64_t j = 0; j < len; ++j)
        if (m.empty() || m[static_cast<size_t>(i * len + j)] != 0)
          tokens.push_back(all[static_cast<size_t>(i * len + j)]);
      s.encoder_ngrams.push_back(ngram_table(tokens, config.encoder_no_repeat_ngram_size));
    }
  }
  const std::unique_ptr<DecodingState> state = model.start_decoding(inputs);
  if (config.num_beams > 1) return detail::beam_search(s, *state);
  return greedy_or_sample(s, *state, first_input_index);
}

}  // namespace kiln::nn
