// The LED family against Hugging Face transformers 4.30.2 (../shared/refs/models/led-tiny, see
// its README, "BART family and LED"): logits, the encoder output and every encoder and decoder
// hidden state within 1e-4 and the loss within 1e-5 relative, on two multi-review inputs with
// global tokens (<s> and each <doc-sep>) and padding. The windowed attention is also checked
// against a direct f64 loop over the definition (window, global tokens, padding) on shapes the
// fixture does not cover; incremental decoding against the full pass; gradients against finite
// differences; configs, tied weights, import and the size checks.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/bart_generation.h"
#include "nn/family.h"
#include "nn/led.h"
#include "nn/led_checks.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

using testing::max_abs_diff;
using testing::message_of;
using testing::read_json;

const std::string kFixture = std::string(KILN_SHARED_DIR) + "/refs/models/led-tiny";

bool has_prefix(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

struct Fixture {
  LedConfig config;
  std::unique_ptr<LedModel> model;
  StateDict ref;
};

Fixture load_fixture() {
  Fixture f;
  f.config = LedConfig::from_json(read_json(kFixture + "/config.json"), kFixture);
  f.model = std::make_unique<LedModel>(f.config);
  f.model->load_state_dict(load_safetensors(kFixture + "/model.safetensors"), true, kFixture);
  f.model->eval();
  f.ref = load_safetensors(kFixture + "/reference.safetensors");
  return f;
}

NamedTensors reference_inputs(const Fixture& f) {
  NamedTensors in;
  for (const char* n :
       {"input_ids", "attention_mask", "global_attention_mask", "decoder_input_ids"})
    in[n] = f.ref.at(n);
  return in;
}

TEST(LedReference, OutputsHiddenStatesAndLossMatchTransformers) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  Fixture f = load_fixture();
  NoGradGuard ng;
  const NamedTensors out = f.model->forward(reference_inputs(f), {true});

  size_t encoder_states = 0, decoder_states = 0;
  for (const auto& [key, got] : out) {
    const bool encoder = has_prefix(key, "encoder_hidden_states.");
    const bool decoder = has_prefix(key, "decoder_hidden_states.");
    if (!encoder && !decoder) continue;
    ASSERT_TRUE(f.ref.count(key)) << key << " is not in the reference";
    const double err = max_abs_diff(got, f.ref.at(key));
    EXPECT_LE(err, 1e-4) << key;
    std::cout << "led-tiny " << key << " max abs error " << err << "\n";
    encoder_states += encoder;
    decoder_states += decoder;
  }
  EXPECT_EQ(encoder_states, 3u);
  EXPECT_EQ(decoder_states, 3u);
  // Cut back from the internal padding to a multiple of 16 (156 -> 160) to the input's length.
  EXPECT_EQ(out.at("encoder_last_hidden_state").shape(), (Shape{2, 156, 32}));
  const double enc_err =
      max_abs_diff(out.at("encoder_last_hidden_state"), f.ref.at("encoder_last_hidden_state"));
  EXPECT_LE(enc_err, 1e-4);
  const double logits_err = max_abs_diff(out.at("logits"), f.ref.at("logits"));
  EXPECT_LE(logits_err, 1e-4);
  std::cout << "led-tiny encoder_last_hidden_state max abs error " << enc_err
            << ", logits max abs error " << logits_err << "\n";

  // transformers' loss: one token mean of the cross-entropy over every label that is not -100.
  const double loss = cross_entropy(reshape(out.at("logits"), {-1, f.config.bart.vocab_size}),
                                    reshape(f.ref.at("labels"), {-1}))
                          .item();
  const double want = f.ref.at("loss").item();
  EXPECT_LE(std::abs(loss - want) / std::abs(want), 1e-5) << loss << " vs " << want;
  std::cout << "led-tiny loss " << loss << " vs " << want << "\n";
}

// The global tokens matter: without global_attention_mask the encoder output differs (and the
// fixture's is not reproduced), and a padded position is cut from the output whatever it holds.
TEST(LedReference, GlobalAttentionChangesTheEncoderOutput) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  Fixture f = load_fixture();
  NoGradGuard ng;
  const Tensor& ids = f.ref.at("input_ids");
  const Tensor& mask = f.ref.at("attention_mask");
  const Tensor local = f.model->encode(ids, mask, Tensor()).last_hidden_state;
  EXPECT_GT(max_abs_diff(local, f.ref.at("encoder_last_hidden_state")), 1e-2);
  const Tensor zeros = Tensor::from_ints(std::vector<int64_t>(ids.numel(), 0), ids.shape());
  EXPECT_EQ(f.model->encode(ids, mask, zeros).last_hidden_state.to_vector(), local.to_vector());
}

// ---- incremental decoding through the Seq2SeqLM interface ----

TEST(LedGeneration, DecodeStepsMatchTheFullPassAndSelectRowsReorders) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  Fixture f = load_fixture();
  NoGradGuard ng;
  const Tensor& dec = f.ref.at("decoder_input_ids");
  const int64_t steps = dec.size(1), vocab = f.model->vocab_size();
  EXPECT_EQ(vocab, 50266);
  const Tensor& full = f.ref.at("logits");  // [2, T, V]
  NamedTensors in = reference_inputs(f);
  in.erase("decoder_input_ids");
  const Seq2SeqLM& lm = *f.model;
  std::unique_ptr<DecodingState> state = lm.start_decoding(in);
  EXPECT_EQ(state->rows(), 2);
  double worst = 0;
  const int64_t swap_at = 10;
  // Rows in input order, until swap_at; then swapped (row 0 decodes input 1), then input 1 twice.
  std::vector<int64_t> row_input = {0, 1};
  for (int64_t t = 0; t < steps; ++t) {
    if (t == swap_at) {
      state->select_rows({1, 0});
      row_input = {1, 0};
    }
    if (t == swap_at + 5) {
      state->select_rows({0, 0});  // both rows now continue input 1
      row_input = {1, 1};
    }
    std::vector<int64_t> tokens;
    for (int64_t r : row_input) tokens.push_back(static_cast<int64_t>(dec.at({r, t})));
    const Tensor logits = lm.decode_step(*state, Tensor::from_ints(tokens, {2}));
    ASSERT_EQ(logits.shape(), (Shape{2, vocab}));
    for (int64_t r = 0; r < 2; ++r)
      worst = std::max(
          worst, max_abs_diff(select(logits, 0, r), select(select(full, 0, row_input[r]), 0, t)));
    EXPECT_EQ(state->length(), t + 1);
  }
  EXPECT_LE(worst, 1e-4);
  std::cout << "led-tiny decode_step max abs error vs transformers' logits " << worst << "\n";
  EXPECT_NE(message_of([&] {
              lm.start_decoding({{"input_ids", dec}, {"labels", dec}});
            }).find("'labels'"),
            std::string::npos);
}

// Beams of one input share its encoder rows and cross-attention keys/values (nn/bart_generation.h):
// rows in equal runs per input keep one encoder row per run; anything else falls back to one per
// row. Every step's logits still match the full pass, whichever layout the rows are in.
TEST(LedGeneration, BeamsShareTheirInputsEncoderRowsInEveryLayout) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixtures not present";
  Fixture f = load_fixture();
  NoGradGuard ng;
  const Tensor& dec = f.ref.at("decoder_input_ids");
  const Tensor& full = f.ref.at("logits");  // [2, T, V]
  NamedTensors in = reference_inputs(f);
  in.erase("decoder_input_ids");
  const Seq2SeqLM& lm = *f.model;
  struct Change {
    int64_t at;
    std::vector<int64_t> rows, inputs;  // rows kept; the input each new row decodes
    int64_t group, encoder_rows;        // the layout expected after it
  };
  const std::vector<Change> schedule = {
      {1, {0, 0, 0, 1, 1, 1}, {0, 0, 0, 1, 1, 1}, 3, 2},  // 3 beams per input
      {3, {2, 0, 0, 4, 3, 3}, {0, 0, 0, 1, 1, 1}, 3, 2},  // reordered among themselves
      {5, {3, 4, 5}, {1, 1, 1}, 3, 1},                    // input 0 finished
      {7, {0, 0, 1, 2}, {1, 1, 1, 1}, 4, 1},
      {9, {0, 1, 2}, {1, 1, 1}, 3, 1},
  };
  const std::vector<Change> uneven = {
      {1, {0, 1, 1}, {0, 1, 1}, 1, 3},        // runs of unequal length: one encoder row per row
      {3, {1, 2, 1, 2}, {1, 1, 1, 1}, 4, 1},  // equal runs again
  };
  for (const auto* plan : {&schedule, &uneven}) {
    std::unique_ptr<DecodingState> owned = lm.start_decoding(in);
    auto& st = dynamic_cast<BartDecodingState&>(*owned);
    std::vector<int64_t> row_input = {0, 1};
    double worst = 0;
    size_t next = 0;
    for (int64_t t = 0; t < 12; ++t) {
      if (next < plan->size() && (*plan)[next].at == t) {
        const Change& c = (*plan)[next++];
        st.select_rows(c.rows);
        row_input = c.inputs;
        EXPECT_EQ(st.group(), c.group) << "step " << t;
        EXPECT_EQ(st.encoder_output().size(0), c.encoder_rows) << "step " << t;
        for (const AttentionCache& x : st.cache().cross_attention)
          EXPECT_EQ(x.key.size(0), c.encoder_rows) << "step " << t;
      }
      const int64_t rows = static_cast<int64_t>(row_input.size());
      std::vector<int64_t> tokens;
      for (int64_t r : row_input) tokens.push_back(static_cast<int64_t>(dec.at({r, t})));
      const Tensor logits = lm.decode_step(st, Tensor::from_ints(tokens, {rows}));
      for (int64_t r = 0; r < rows; ++r)
        worst = std::max(
            worst, max_abs_diff(select(logits, 0, r), select(select(full, 0, row_input[r]), 0, t)));
    }
    EXPECT_LE(worst, 1e-4);
  }
}

// ---- the windowed attention against its definition, on shapes the fixture lacks ----

// Direct evaluation of Longformer self-attention in f64: for each query, softmax over the keys it
// may see, then the weighted values. kinds: 0 padding, 1 local, 2 global.
std::vector<double> longformer_by_definition(const LongformerSelfAttention& attn, const Tensor& x,
                                             const std::vector<uint8_t>& kinds, int64_t heads) {
  std::map<std::string, std::vector<double>> w;
  for (const auto& [name, t] : attn.named_parameters()) w[name] = t->to_vector();
  const int64_t b_n = x.size(0), l = x.size(1), d = x.size(2), dh = d / heads;
  const int64_t half = attn.window() / 2;
  const auto xv = x.to_vector();
  auto project = [&](const std::string& p, int64_t b, int64_t i) {
    std::vector<double> out(static_cast<size_t>(d));
    const auto& wt = w.at(p + ".weight");
    const auto& bias = w.at(p + ".bias");
    for (int64_t o = 0; o < d; ++o) {
      double s = bias[o];
      for (int64_t k = 0; k < d; ++k) s += wt[o * d + k] * xv[(b * l + i) * d + k];
      out[o] = s;
    }
    return out;
  };
  std::vector<double> out(static_cast<size_t>(b_n * l * d), 0.0);
  for (int64_t b = 0; b < b_n; ++b) {
    const uint8_t* kind = kinds.data() + b * l;
    for (int64_t i = 0; i < l; ++i) {
      if (kind[i] == 0) continue;  // padding: zero context
      const bool global = kind[i] == 2;
      const std::string sfx = global ? "_global" : "";
      const auto q = project("query" + sfx, b, i);
      std::vector<int64_t> keys;
      for (int64_t j = 0; j < l; ++j) {
        const bool in_window = std::abs(j - i) <= half && kind[j] == 1;
        if (global ? kind[j] != 0 : (in_window || kind[j] == 2)) keys.push_back(j);
      }
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<double> scores;
        std::vector<std::vector<double>> values;
        for (int64_t j : keys) {
          const auto k = project("key" + sfx, b, j);
          double s = 0;
          for (int64_t e = 0; e < dh; ++e) s += q[h * dh + e] * k[h * dh + e];
          scores.push_back(s / std::sqrt(static_cast<double>(dh)));
          values.push_back(project("value" + sfx, b, j));
        }
        const double top = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - top));
        for (size_t n = 0; n < keys.size(); ++n)
          for (int64_t e = 0; e < dh; ++e)
            out[(b * l + i) * d + h * dh + e] += scores[n] / total * values[n][h * dh + e];
      }
    }
  }
  return out;
}

TEST(LongformerAttention, MatchesTheDefinitionOnEdgeCases) {
  struct Case {
    const char* what;
    int64_t window, length;
    std::vector<std::vector<uint8_t>> kinds;  // per input; shorter rows are padded with 0
  };
  const std::vector<Case> cases = {
      {"no global token, one padded input",
       4,
       12,
       {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1}}},
      {"globals at both ends, uneven counts",
       4,
       12,
       {{2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2}, {1, 1, 2, 1, 1}}},
      {"window wider than the sequence", 16, 6, {{2, 1, 1, 1, 2, 1}, {1, 1, 1}}},
      {"length not a multiple of the half window",
       6,
       10,
       {{1, 2, 1, 1, 1, 1, 1, 2, 2, 1}, {2, 1, 1, 1, 1, 1, 1, 1, 1, 1}}},
      {"an input with no real token", 4, 8, {{1, 1, 2, 1, 1, 1, 1, 1}, {}}},
  };
  const int64_t d = 8, heads = 2;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    LongformerSelfAttention attn(d, heads, c.window);
    Generator gen(11);
    for (auto& [name, t] : attn.named_parameters()) init_normal_(*t, 0.5, gen);
    const int64_t batch = static_cast<int64_t>(c.kinds.size());
    std::vector<uint8_t> kinds(static_cast<size_t>(batch * c.length), 0);
    for (int64_t b = 0; b < batch; ++b)
      std::copy(c.kinds[b].begin(), c.kinds[b].end(), kinds.begin() + b * c.length);
    const Tensor x = Tensor::randn({batch, c.length, d}, gen);
    const LongformerPattern pattern(kinds, batch, c.length);
    NoGradGuard ng;
    const Tensor got = attn.forward(x, pattern, BartDropout{});
    const auto want = longformer_by_definition(attn, x, kinds, heads);
    const auto g = got.to_vector();
    ASSERT_EQ(g.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - want[i]));
    EXPECT_LE(worst, 1e-5);
  }
}

// ---- a tiny synthetic LED: configs, tied weights, gradients, import, checks ----

nlohmann::json tiny_config() {
  return {{"model_type", "led"},
          {"architectures", {"LEDForConditionalGeneration"}},
          {"vocab_size", 12},
          {"d_model", 8},
          {"max_encoder_position_embeddings", 32},
          {"max_decoder_position_embeddings", 16},
          {"encoder_layers", 2},
          {"decoder_layers", 1},
          {"encoder_attention_heads", 2},
          {"decoder_attention_heads", 4},
          {"encoder_ffn_dim", 16},
          {"decoder_ffn_dim", 12},
          {"attention_window", {4, 8}},
          {"init_std", 0.5},
          {"pad_token_id", 1}};
}

TEST(LedConfig, ParsesWindowsAndRefusesBadOnesNamingTheField) {
  const LedConfig c = LedConfig::from_json(tiny_config(), "t/config.json");
  EXPECT_EQ(c.attention_window, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c.padding_multiple(), 8);
  EXPECT_EQ(c.max_encoder_positions, 32);
  EXPECT_EQ(c.max_decoder_positions, 16);
  EXPECT_TRUE(c.bart.lm_head);
  EXPECT_FALSE(c.bart.scale_embedding);
  nlohmann::json j = tiny_config();
  j["attention_window"] = 6;  // one window for every layer
  EXPECT_EQ(LedConfig::from_json(j, "t").attention_window, (std::vector<int64_t>{6, 6}));

  auto error_with = [](const char* field, const nlohmann::json& value) {
    nlohmann::json j = tiny_config();
    if (value.is_null())
      j.erase(field);
    else
      j[field] = value;
    return message_of([&] { LedConfig::from_json(j, "x/config.json"); });
  };
  std::string m = error_with("attention_window", 5);
  EXPECT_NE(m.find("x/config.json: config field 'attention_window' holds 5"), std::string::npos)
      << m;
  m = error_with("attention_window", {4, 4, 4});
  EXPECT_NE(m.find("'attention_window' has 3 windows but there are 2 encoder layers"),
            std::string::npos)
      << m;
  for (const char* field : {"max_encoder_position_embeddings", "max_decoder_position_embeddings",
                            "attention_window", "d_model", "encoder_ffn_dim"}) {
    m = error_with(field, nullptr);
    EXPECT_NE(m.find(std::string("missing config field '") + field + "'"), std::string::npos) << m;
  }
  m = error_with("architectures", nlohmann::json::array({"LEDForSequenceClassification"}));
  EXPECT_NE(m.find("LEDForSequenceClassification"), std::string::npos) << m;
  m = error_with("activation_function", "swish");
  EXPECT_NE(m.find("'activation_function' is 'swish'"), std::string::npos) << m;

  EXPECT_EQ(&family_for_config(tiny_config(), "c"), &family_by_name("led", "c"));
  const ModelSpec s = family_by_name("led", "t").parse_config(tiny_config(), "t");
  EXPECT_EQ(s.max_tokens, 32);
  EXPECT_EQ(s.input_names[2], "global_attention_mask");
}

TEST(LedModel, TensorNamesShapesAndTiesMatchTheChecksAndTransformers) {
  const LedConfig c = LedConfig::from_json(tiny_config(), "t");
  LedModel m(c);
  const auto aliases = m.parameter_aliases();
  for (const char* alias :
       {"led.encoder.embed_tokens.weight", "led.decoder.embed_tokens.weight", "lm_head.weight"})
    EXPECT_EQ(aliases.count(alias) ? aliases.at(alias) : "", "led.shared.weight") << alias;
  const StateDict sd = m.state_dict();
  // Every stored tensor is what the pre-build checks expect, and nothing else.
  const auto shapes = led_tensor_shapes(c);
  EXPECT_EQ(shapes.size(), sd.size());
  for (const LedTensorShape& t : shapes) {
    ASSERT_TRUE(sd.count(t.name)) << t.name;
    EXPECT_EQ(sd.at(t.name).shape(), t.shape) << t.name;
  }
  EXPECT_EQ(sd.at("led.encoder.embed_positions.weight").shape(), (Shape{32, 8}));  // no offset
  EXPECT_TRUE(sd.count("led.encoder.layers.1.self_attn.longformer_self_attn.key_global.bias"));
  EXPECT_TRUE(sd.count("led.encoder.layers.0.self_attn.output.weight"));
  EXPECT_EQ(family_by_name("led", "t").parameter_count(tiny_config(), "t"), m.parameter_count());

  nlohmann::json bare = tiny_config();
  bare["architectures"] = {"LEDModel"};
  LedModel b(LedConfig::from_json(bare, "t"));
  EXPECT_TRUE(b.state_dict().count("shared.weight"));
  EXPECT_FALSE(b.state_dict().count("final_logits_bias"));
  EXPECT_EQ(family_by_name("led", "t").parameter_count(bare, "t"), b.parameter_count());
  Generator gen(1);
  b.init_weights(gen);
  NoGradGuard ng;
  const NamedTensors out = b.forward({{"input_ids", Tensor::from_ints({0, 5, 2}, {1, 3})}});
  EXPECT_FALSE(out.count("logits"));
  EXPECT_EQ(out.at("last_hidden_state").shape(), (Shape{1, 3, 8}));
}

TEST(LedModel, RefusesInputsLongerThanThePaddedPositions) {
  LedModel m(LedConfig::from_json(tiny_config(), "t"));
  Generator gen(2);
  m.init_weights(gen);
  NoGradGuard ng;
  const Tensor ids = Tensor::from_ints(std::vector<int64_t>(33, 4), {1, 33});
  const std::string msg = message_of([&] { m.encode(ids, Tensor(), Tensor()); });
  EXPECT_NE(msg.find("33 tokens (40 once padded"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_encoder_position_embeddings"), std::string::npos) << msg;
  const Tensor two = Tensor::from_ints({0, 4, 4, 2}, {1, 4});
  EXPECT_NE(message_of([&] {
              m.encode(two, Tensor(), Tensor::from_ints({1, 0, 3, 0}, {1, 4}));
            }).find("global_attention_mask must hold 0 and 1"),
            std::string::npos);
}

// d loss / d parameter by autograd against central differences, in f64, on a tiny model whose
// batch has padding and global tokens, for parameters of both attention paths and the decoder.
TEST(LedGradients, AutogradMatchesFiniteDifferences) {
  LedModel m(LedConfig::from_json(tiny_config(), "t"));
  Generator gen(3);
  m.init_weights(gen);
  for (auto& [name, p] : m.named_parameters()) *p = p->detach().clone().to(DType::F64);
  for (auto& [name, b] : m.named_buffers()) *b = b->detach().clone().to(DType::F64);
  m.eval();
  const NamedTensors in = {
      {"input_ids",
       Tensor::from_ints({0, 5, 6, 7, 8, 9, 10, 11, 4, 2, 0, 7, 8, 9, 2, 1, 1, 1, 1, 1}, {2, 10})},
      {"attention_mask",
       Tensor::from_ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, {2, 10})},
      {"global_attention_mask",
       Tensor::from_ints({1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, {2, 10})},
      {"decoder_input_ids", Tensor::from_ints({2, 0, 5, 6, 2, 0, 7, 1}, {2, 4})}};
  const Tensor labels = Tensor::from_ints({0, 5, 6, 2, 0, 7, 2, -100}, {8});
  auto loss = [&] { return cross_entropy(reshape(m.forward(in).at("logits"), {-1, 12}), labels); };
  m.set_requires_grad(true);
  loss().backward();
  const std::map<std::string, Tensor*> params = [&] {
    std::map<std::string, Tensor*> p;
    for (auto& [name, t] : m.named_parameters()) p[name] = t;
    return p;
  }();
  const std::string layer = "led.encoder.layers.1.self_attn.longformer_self_attn.";
  int checked = 0;
  for (const std::string name :
       {layer + "query.weight", layer + "key.weight", layer + "value_global.weight",
        layer + "query_global.bias", std::string("led.encoder.layers.0.self_attn.output.weight"),
        std::string("led.shared.weight"),
        std::string("led.decoder.layers.0.encoder_attn.q_proj.weight")}) {
    SCOPED_TRACE(name);
    Tensor& p = *params.at(name);
    const auto grad = p.grad().to_vector();
    NoGradGuard ng;
    for (int64_t i : {int64_t{0}, int64_t{5}, int64_t{13}}) {
      const int64_t n = i % p.numel();
      double* v = p.data<double>() + n;
      const double keep = *v, h = 1e-5;
      *v = keep + h;
      const double up = loss().item();
      *v = keep - h;
      const double down = loss().item();
      *v = keep;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grad[n], numeric, 1e-6 + 1e-5 * std::abs(numeric));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 21);
}

// Dropout (embeddings, both attention paths' probabilities, activations, block outputs) acts in
// training mode with a generator only: with every probability 0 training equals eval bit for
// bit; with 0.1 it does not.
TEST(LedModel, DropoutActsInTrainingOnly) {
  const NamedTensors in = {
      {"input_ids", Tensor::from_ints({0, 5, 6, 7, 8, 9, 10, 11, 4, 2}, {1, 10})},
      {"global_attention_mask", Tensor::from_ints({1, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {1, 10})}};
  auto logits = [&](double p, bool training, bool with_gen) {
    nlohmann::json j = tiny_config();
    j["dropout"] = j["attention_dropout"] = j["activation_dropout"] = p;
    LedModel m(LedConfig::from_json(j, "t"));
    Generator init(6);
    m.init_weights(init);
    m.train(training);
    Generator gen(5);
    if (with_gen) m.set_dropout_generator(&gen);
    NoGradGuard ng;
    return m.forward(in).at("logits").to_vector();
  };
  const auto eval = logits(0.1, false, true);
  EXPECT_EQ(logits(0.0, true, true), eval);
  EXPECT_EQ(logits(0.1, true, false), eval);  // no generator: no dropout randomness asked for
  EXPECT_NE(logits(0.1, true, true), eval);
}

// `kiln convert`'s import and the pre-build checks: a bare LEDModel checkpoint fits an
// LEDForConditionalGeneration config; a missing tensor or a wrong shape is named.
TEST(LedFamily, ImportAndChecksNameTheTensor) {
  const ModelFamily& family = family_by_name("led", "test");
  LedModel m(LedConfig::from_json(tiny_config(), "t"));
  Generator gen(4);
  m.init_weights(gen);
  StateDict bare;
  for (const auto& [name, t] : m.state_dict())
    if (name != "final_logits_bias") bare[name.substr(4)] = t;
  ConvertedWeights w = family.import_checkpoint(tiny_config(), bare, "ck");
  EXPECT_TRUE(w.tensors.count("led.shared.weight"));
  family.check_tensors(tiny_config(), w.tensors, "ck");
  LedModel loaded(LedConfig::from_json(tiny_config(), "t"));
  loaded.load_state_dict(w.tensors, true, "ck");

  StateDict missing = m.state_dict();
  missing.erase("led.encoder.layers.1.self_attn.longformer_self_attn.key_global.weight");
  std::string msg = message_of([&] { family.check_tensors(tiny_config(), missing, "ck"); });
  EXPECT_NE(msg.find("ck: the checkpoint has no tensor "
                     "'led.encoder.layers.1.self_attn.longformer_self_attn.key_global.weight'"),
            std::string::npos)
      << msg;
  StateDict wrong = m.state_dict();
  wrong["led.encoder.embed_positions.weight"] = Tensor::zeros({30, 8});
  msg = message_of([&] { family.check_tensors(tiny_config(), wrong, "ck"); });
  EXPECT_NE(msg.find("tensor 'led.encoder.embed_positions.weight' has shape [30, 8] but the "
                     "config (max_encoder_position_embeddings, d_model) gives [32, 8]"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace kiln::nn
