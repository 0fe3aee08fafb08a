// LedModel as a Seq2SeqLM (nn/seq2seq.h): the Longformer encoder runs once, then BART's decoder
// one token per row with its KV cache. The decoding state is BART's (nn/bart_generation.h): once
// the encoder has run, the two models decode alike.
#include "core/autograd.h"
#include "core/ops.h"
#include "nn/bart_generation.h"
#include "nn/led.h"

namespace kiln::nn {

std::unique_ptr<DecodingState> LedModel::start_decoding(const NamedTensors& inputs) const {
  check_input_names(inputs, {"input_ids", "attention_mask", "global_attention_mask"}, "led");
  NoGradGuard no_grad;
  const Tensor mask = optional_input(inputs, "attention_mask");
  BartStackOutput enc = encode(required_input(inputs, "input_ids"), mask,
                               optional_input(inputs, "global_attention_mask"));
  return std::make_unique<BartDecodingState>(enc.last_hidden_state, mask);
}

Tensor LedModel::decode_step(DecodingState& state, const Tensor& tokens) const {
  auto* s = dynamic_cast<BartDecodingState*>(&state);
  KILN_CHECK(s != nullptr, "decode_step: the state was not made by this LED model");
  KILN_CHECK(tokens.dim() == 1 && tokens.size(0) == s->rows(), "decode_step: ", tokens.describe(),
             " must hold one token for each of the ", s->rows(), " rows");
  NoGradGuard no_grad;
  const int64_t rows = s->rows();
  const BartStackOutput dec = decode(reshape(tokens, {rows, 1}), Tensor(), s->encoder_output(),
                                     s->encoder_mask(), /*keep_hidden_states=*/false, &s->cache());
  return reshape(lm_logits(dec.last_hidden_state), {rows, config_.bart.vocab_size});
}

}  // namespace kiln::nn
