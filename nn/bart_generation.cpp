// BartModel as a Seq2SeqLM (nn/seq2seq.h): the encoder runs once, then the decoder one token per
// row with the KV cache of nn/bart.h.
#include "nn/bart_generation.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace kiln::nn {

namespace {

// index_select is for floating tensors; the attention mask holds integers.
Tensor select_mask_rows(const Tensor& mask, const std::vector<int64_t>& rows) {
  if (!mask.defined()) return mask;
  const std::vector<int64_t> all = mask.to_ints();
  const int64_t len = mask.size(1);
  std::vector<int64_t> out;
  out.reserve(rows.size() * static_cast<size_t>(len));
  for (int64_t r : rows) out.insert(out.end(), all.begin() + r * len, all.begin() + (r + 1) * len);
  return Tensor::from_ints(out, {static_cast<int64_t>(rows.size()), len}, mask.dtype());
}

// The run length g when `inputs` is equal runs of g rows, each run decoding one input; 1 (every
// row on its own) otherwise.
int64_t equal_run_length(const std::vector<int64_t>& inputs) {
  const size_t n = inputs.size();
  size_t g = 1;
  while (g < n && inputs[g] == inputs[0]) ++g;
  if (n == 0 || n % g != 0) return 1;
  for (size_t i = 0; i < n; ++i)
    if (inputs[i] != inputs[i - i % g]) return 1;
  return static_cast<int64_t>(g);
}

}  // namespace

BartDecodingState::BartDecodingState(Tensor encoder_output, Tensor encoder_mask)
    : encoder_output_(std::move(encoder_output)), encoder_mask_(std::move(encoder_mask)) {
  row_input_.resize(static_cast<size_t>(encoder_output_.size(0)));
  for (size_t i = 0; i < row_input_.size(); ++i) row_input_[i] = static_cast<int64_t>(i);
}

void BartDecodingState::select_rows(const std::vector<int64_t>& rows) {
  std::vector<int64_t> inputs(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    KILN_CHECK(rows[i] >= 0 && rows[i] < this->rows(), "decoding row ", rows[i],
               " does not exist (", this->rows(), " rows)");
    inputs[i] = row_input_[static_cast<size_t>(rows[i])];
  }
  for (AttentionCache& c : cache_.self_attention) c.select_rows(rows);
  // Beams of one input reordered among themselves see the same encoder rows: nothing to move.
  if (inputs == row_input_) return;
  // The encoder row each new run (or row) reads: the one that served its first row.
  const int64_t group = equal_run_length(inputs), old_group = this->group();
  std::vector<int64_t> encoder_rows;
  for (size_t i = 0; i < rows.size(); i += static_cast<size_t>(group))
    encoder_rows.push_back(rows[i] / old_group);
  const int64_t kept = static_cast<int64_t>(encoder_rows.size());
  bool unchanged = kept == encoder_output_.size(0);
  for (int64_t r = 0; unchanged && r < kept; ++r) unchanged = encoder_rows[r] == r;
  if (!unchanged) {
    encoder_output_ = index_select(encoder_output_, 0, Tensor::from_ints(encoder_rows, {kept}));
    encoder_mask_ = select_mask_rows(encoder_mask_, encoder_rows);
    for (AttentionCache& c : cache_.cross_attention) c.select_rows(encoder_rows);
  }
  row_input_ = std::move(inputs);
}

std::unique_ptr<DecodingState> BartModel::start_decoding(const NamedTensors& inputs) const {
  check_input_names(inputs, {"input_ids", "attention_mask"}, "bart");
  NoGradGuard no_grad;
  const Tensor& ids = required_input(inputs, "input_ids");
  const Tensor mask = optional_input(inputs, "attention_mask");
  BartStackOutput enc = encode(ids, mask);
  return std::make_unique<BartDecodingState>(enc.last_hidden_state, mask);
}

Tensor BartModel::decode_step(DecodingState& state, const Tensor& tokens) const {
  auto* s = dynamic_cast<BartDecodingState*>(&state);
  KILN_CHECK(s != nullptr, "decode_step: the state was not made by this BART model");
  KILN_CHECK(tokens.dim() == 1 && tokens.size(0) == s->rows(), "decode_step: ", tokens.describe(),
             " must hold one token for each of the ", s->rows(), " rows");
  NoGradGuard no_grad;
  const int64_t rows = s->rows();
  const Tensor ids = reshape(tokens, {rows, 1});
  const BartStackOutput dec = decode(ids, Tensor(), s->encoder_output(), s->encoder_mask(),
                                     /*keep_hidden_states=*/false, &s->cache());
  return reshape(lm_logits(dec.last_hidden_state), {rows, config_.vocab_size});
}

}  // namespace kiln::nn
