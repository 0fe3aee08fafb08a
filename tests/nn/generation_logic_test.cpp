// Generation without a real model: the settings (defaults, JSON, the checks that refuse
// contradictions, transformers' choice between generation_config.json and config.json), every
// logits processor on hand-made rows, and sampling tested by distribution (it cannot match
// torch's generator token for token): a fake model with fixed logits, many seeds, the empirical
// frequencies against softmax, and top-k / top-p / temperature changing them as transformers'
// warpers do.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "nn/generation.h"
#include "nn/logits_processors.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

using testing::message_of;
constexpr float kInf = std::numeric_limits<float>::infinity();

// A "model" whose next-token logits are always `logits` (vocab = logits.size()); the state only
// counts rows and steps.
class FixedLogits : public Seq2SeqLM {
 public:
  explicit FixedLogits(std::vector<float> logits) : logits_(std::move(logits)) {}
  class State : public DecodingState {
   public:
    explicit State(int64_t rows) : rows_(rows) {}
    int64_t rows() const override { return rows_; }
    int64_t length() const override { return length_; }
    void select_rows(const std::vector<int64_t>& rows) override {
      rows_ = static_cast<int64_t>(rows.size());
    }
    int64_t rows_, length_ = 0;
  };
  std::unique_ptr<DecodingState> start_decoding(const NamedTensors& inputs) const override {
    return std::make_unique<State>(inputs.at("input_ids").size(0));
  }
  Tensor decode_step(DecodingState& state, const Tensor& tokens) const override {
    auto& s = static_cast<State&>(state);
    ++s.length_;
    std::vector<float> out;
    for (int64_t r = 0; r < tokens.size(0); ++r)
      out.insert(out.end(), logits_.begin(), logits_.end());
    return Tensor::from_floats(out, {tokens.size(0), vocab_size()});
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(logits_.size()); }

 private:
  std::vector<float> logits_;
};

GenerationConfig base(int64_t vocab_eos = 0) {
  GenerationConfig c;
  c.decoder_start_token_id = 0;
  c.eos_token_ids = {vocab_eos};
  c.pad_token_id = 0;
  return c;
}

TEST(GenerationConfig, LengthsCountTheStartTokenAndNewTokensWin) {
  GenerationConfig c;
  EXPECT_EQ(c.effective_max_length(), 20);  // transformers' default
  c.update_from_json({{"max_length", 48}, {"max_new_tokens", 8}, {"min_new_tokens", 3}}, "t");
  EXPECT_EQ(c.effective_max_length(), 9);
  EXPECT_EQ(c.effective_min_length(), 4);
  c.update_from_json({{"eos_token_id", {2, 7}}, {"early_stopping", "never"}, {"top_k", nullptr}},
                     "t");
  EXPECT_TRUE(c.is_eos(7));
  EXPECT_EQ(c.early_stopping, EarlyStopping::Never);
  EXPECT_EQ(c.top_k, 50);  // null leaves the default
  EXPECT_NE(message_of([&] {
              c.update_from_json({{"num_beams", "4"}}, "gen.json");
            }).find("gen.json: generation field 'num_beams' must be an integer"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              c.update_from_json({{"early_stopping", 1}}, "g");
            }).find("never"),
            std::string::npos);
}

TEST(GenerationConfig, ContradictionsAreRefusedNamingTheSettings) {
  auto refused = [](const nlohmann::json& j) {
    GenerationConfig c = base(2);
    c.update_from_json(j, "t");
    return message_of([&] { c.validate(10); });
  };
  EXPECT_NE(refused({{"num_beams", 2}, {"num_return_sequences", 3}})
                .find("num_return_sequences 3 is larger than num_beams 2"),
            std::string::npos);
  EXPECT_NE(refused({{"min_length", 30}, {"max_length", 20}})
                .find("min_length 30 is larger than max_length 20"),
            std::string::npos);
  EXPECT_NE(refused({{"max_length", 1}}).find("at least 2"), std::string::npos);
  EXPECT_NE(refused({{"do_sample", true}, {"temperature", 0}}).find("temperature"),
            std::string::npos);
  EXPECT_NE(refused({{"do_sample", true}, {"top_p", 1.5}}).find("top_p"), std::string::npos);
  EXPECT_NE(refused({{"forced_bos_token_id", 10}}).find("forced_bos_token_id 10 is not a token"),
            std::string::npos);
  EXPECT_NE(refused({{"bad_words_ids", {nlohmann::json::array()}}}).find("empty"),
            std::string::npos);
  EXPECT_NE(refused({{"repetition_penalty", 0}}).find("repetition_penalty"), std::string::npos);
  EXPECT_EQ(refused({{"do_sample", true}, {"num_return_sequences", 3}}), "(no error)");
}

TEST(GenerationConfig, ModelDefaultsFollowTransformers) {
  const nlohmann::json config = {
      {"num_beams", 2},
      {"max_length", 30},
      {"decoder_start_token_id", 2},
      {"task_specific_params", {{"summarization", {{"num_beams", 4}, {"max_length", 142}}}}}};
  // No generation_config.json, or one saved from the model config: config.json + task params.
  for (const nlohmann::json& gen :
       {nlohmann::json(), nlohmann::json({{"_from_model_config", true}, {"num_beams", 1}})}) {
    const GenerationConfig c = model_generation_config(config, gen, "summarization", "m");
    EXPECT_EQ(c.num_beams, 4);
    EXPECT_EQ(c.max_length, 142);
    EXPECT_EQ(c.decoder_start_token_id, 2);
    EXPECT_EQ(model_generation_config(config, gen, "", "m").num_beams, 2);
  }
  // One written on purpose wins as it is.
  const GenerationConfig c =
      model_generation_config(config, {{"num_beams", 6}}, "summarization", "m");
  EXPECT_EQ(c.num_beams, 6);
  EXPECT_EQ(c.max_length, 20);
}

float at(const std::vector<float>& v, size_t i) {
  return v[i];
}

TEST(LogitsProcessors, EachRuleOnAHandMadeRow) {
  GenerationConfig c = base(2);
  c.max_length = 10;
  c.min_length = 4;
  c.no_repeat_ngram_size = 2;
  c.repetition_penalty = 2.0;
  c.bad_words_ids = {{5}, {2}, {3, 4}};
  c.forced_bos_token_id = 1;
  c.forced_eos_token_id = 2;
  const LogitsProcessors p(c);
  std::vector<float> row = {1, -1, 3, 2, 4, 0.5, 6, 7};
  // Sequence 0 6 3 6 (length 4 = min_length, so </s> is allowed; 6 was followed by 3 before).
  p.process(row.data(), 8, {0, 6, 3, 6}, nullptr);
  EXPECT_FLOAT_EQ(at(row, 0), 0.5f);  // repeated, positive: / 2
  EXPECT_FLOAT_EQ(at(row, 6), 3.0f);  // repeated once however often it occurs
  EXPECT_EQ(at(row, 3), -kInf);       // 6 3 again would repeat a bigram (and 3 repeated)
  EXPECT_EQ(at(row, 5), -kInf);       // bad word
  EXPECT_FLOAT_EQ(at(row, 2), 3.0f);  // [2] is eos: transformers drops that bad word
  EXPECT_FLOAT_EQ(at(row, 4), 4.0f);  // [3, 4] bans 4 only after 3
  std::vector<float> after3 = {1, 1, 1, 1, 1, 1, 1, 1};
  p.process(after3.data(), 8, {0, 7, 3}, nullptr);
  EXPECT_EQ(at(after3, 4), -kInf);
  EXPECT_EQ(at(after3, 2), -kInf);  // length 3 < min_length 4
  // Forced BOS at length 1, forced EOS when the next token reaches max_length.
  std::vector<float> first = {1, 1, 1, 1, 1, 1, 1, 1};
  p.process(first.data(), 8, {0}, nullptr);
  for (int v = 0; v < 8; ++v) EXPECT_EQ(at(first, v), v == 1 ? 0.0f : -kInf);
  std::vector<float> last = {1, 1, 1, 1, 1, 1, 1, 1};
  p.process(last.data(), 8, {0, 1, 7, 7, 7, 7, 7, 7, 7}, nullptr);
  for (int v = 0; v < 8; ++v) EXPECT_EQ(at(last, v), v == 2 ? 0.0f : -kInf);
  // A negative score is multiplied by the penalty.
  std::vector<float> neg = {-1, -1, -1, -1, -1, -1, -1, -1};
  p.process(neg.data(), 8, {0, 7}, nullptr);
  EXPECT_FLOAT_EQ(at(neg, 7), -2.0f);
}

TEST(LogitsProcessors, EncoderNgramsBanWhatWouldCopyTheInput) {
  GenerationConfig c = base(0);
  c.encoder_no_repeat_ngram_size = 3;
  const LogitsProcessors p(c);
  const NgramTable table = ngram_table({5, 6, 7, 5, 6, 4}, 3);  // 5 6 -> {7, 4}
  std::vector<float> row(8, 1.0f);
  p.process(row.data(), 8, {0, 5, 6}, &table);
  EXPECT_EQ(at(row, 7), -kInf);
  EXPECT_EQ(at(row, 4), -kInf);
  EXPECT_EQ(at(row, 6), 1.0f);
}

TEST(Sampling, FrequenciesFollowTheWarpedSoftmax) {
  const std::vector<float> logits = {-kInf, 2.0f, 1.0f, 0.0f, -1.0f};  // token 0 = eos, never drawn
  const FixedLogits model(logits);
  const int64_t n = 4000;
  const Tensor ids = Tensor::from_ints(std::vector<int64_t>(n, 3), {n, 1});
  auto frequencies = [&](GenerationConfig c) {
    c.do_sample = true;
    c.max_new_tokens = 1;
    c.forced_eos_token_id = -1;
    const auto out = generate(model, {{"input_ids", ids}}, c);
    std::map<int64_t, double> f;
    for (const auto& seqs : out) f[seqs[0].ids.at(1)] += 1.0 / n;
    return f;
  };
  auto softmax = [&](double t, std::vector<int> keep) {
    std::map<int64_t, double> p;
    double z = 0;
    for (int v : keep) z += std::exp(logits[v] / t);
    for (int v : keep) p[v] = std::exp(logits[v] / t) / z;
    return p;
  };
  auto expect_close = [&](const std::map<int64_t, double>& got,
                          const std::map<int64_t, double>& want, const char* what) {
    for (int v = 0; v < 5; ++v) {
      const double w = want.count(v) ? want.at(v) : 0.0, g = got.count(v) ? got.at(v) : 0.0;
      // 4 standard deviations of a binomial proportion.
      EXPECT_NEAR(g, w, 4 * std::sqrt(w * (1 - w) / n) + 1e-9) << what << " token " << v;
    }
  };
  GenerationConfig c = base(0);
  c.top_k = 0;
  expect_close(frequencies(c), softmax(1.0, {1, 2, 3, 4}), "plain");
  c.temperature = 0.5;
  expect_close(frequencies(c), softmax(0.5, {1, 2, 3, 4}), "temperature 0.5");
  c.temperature = 1.0;
  c.top_k = 2;
  expect_close(frequencies(c), softmax(1.0, {1, 2}), "top_k 2");
  c.top_k = 0;
  c.top_p = 0.8;  // p = .64 .24 .09 .03: keeps 1 and 2 (cumulative from the bottom .12 <= .2)
  expect_close(frequencies(c), softmax(1.0, {1, 2}), "top_p 0.8");

  // The same seed gives the same samples, whatever the batching; another seed does not.
  c.top_p = 1.0;
  c.max_new_tokens = 5;
  c.seed = 9;
  c.do_sample = true;
  const Tensor four = Tensor::from_ints({3, 3, 3, 3}, {4, 1});
  const auto all = generate(model, {{"input_ids", four}}, c);
  for (int64_t i = 0; i < 4; ++i) {
    const auto alone = generate(model, {{"input_ids", Tensor::from_ints({3}, {1, 1})}}, c, {},
                                static_cast<uint64_t>(i));
    EXPECT_EQ(alone[0][0].ids, all[i][0].ids) << i;
  }
  c.seed = 10;
  EXPECT_NE(generate(model, {{"input_ids", four}}, c)[0][0].ids, all[0][0].ids);
}

TEST(Generation, StreamingHookSeesEveryTokenOnce) {
  const FixedLogits model({-kInf, 0.0f, 3.0f});  // greedy: always token 2, eos 0 never
  GenerationConfig c = base(0);
  c.max_new_tokens = 4;
  c.forced_eos_token_id = 0;
  std::vector<int64_t> seen;
  GenerationHooks hooks;
  hooks.on_token = [&](int64_t input, int64_t seq, int64_t token) {
    EXPECT_EQ(input, 0);
    EXPECT_EQ(seq, 0);
    seen.push_back(token);
  };
  const auto out = generate(model, {{"input_ids", Tensor::from_ints({1}, {1, 1})}}, c, hooks);
  EXPECT_EQ(out[0][0].ids, (std::vector<int64_t>{0, 2, 2, 2, 0}));  // forced eos at max_length
  EXPECT_EQ(seen, (std::vector<int64_t>{2, 2, 2, 0}));
  EXPECT_TRUE(std::isnan(out[0][0].score));
}

}  // namespace
}  // namespace kiln::nn
