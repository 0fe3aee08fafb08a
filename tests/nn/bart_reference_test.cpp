// The BART family against Hugging Face transformers 4.30.2 (fixtures in ../shared/refs/models, see
// its README, "BART family and LED"): logits, the encoder output and every encoder and decoder
// hidden state within 1e-4, the loss within 1e-5 relative, and (bart-denoise) the gradient of
// every parameter within 1e-3 relative (norm of the difference / norm of the reference). Also the
// config checks, tied weights, checkpoint import, dropout in training only, packed inference and
// incremental decoding with the K/V cache.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/bart.h"
#include "nn/family.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

using kiln::testing::max_abs_diff;
using kiln::testing::message_of;
using kiln::testing::read_json;
using kiln::testing::rel_norm_diff;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

bool has_prefix(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

struct Fixture {
  BartConfig config;
  std::unique_ptr<BartModel> model;
  StateDict ref;
};

Fixture load(const std::string& name) {
  Fixture f;
  const std::string dir = kRefs + name;
  f.config = BartConfig::from_json(read_json(dir + "/config.json"), dir + "/config.json");
  f.model = std::make_unique<BartModel>(f.config);
  f.model->load_state_dict(load_safetensors(dir + "/model.safetensors"), true, dir);
  f.model->eval();
  f.ref = load_safetensors(dir + "/reference.safetensors");
  return f;
}

NamedTensors reference_inputs(const Fixture& f) {
  return {{"input_ids", f.ref.at("input_ids")},
          {"attention_mask", f.ref.at("attention_mask")},
          {"decoder_input_ids", f.ref.at("decoder_input_ids")}};
}

// transformers' loss: one mean of the cross-entropy over every label that is not -100.
Tensor loss_of(const Fixture& f, const Tensor& logits, double label_smoothing = 0.0) {
  CrossEntropyOptions opt;
  opt.label_smoothing = label_smoothing;
  return cross_entropy(reshape(logits, {-1, f.config.vocab_size}),
                       reshape(f.ref.at("labels"), {-1}), opt);
}

double relative_error(double got, double want) {
  return std::abs(got - want) / std::abs(want);
}

class BartReference : public ::testing::TestWithParam<std::string> {};

TEST_P(BartReference, OutputsHiddenStatesAndLossMatchTransformers) {
  if (!std::filesystem::exists(kRefs + GetParam())) GTEST_SKIP() << "fixtures not present";
  Fixture f = load(GetParam());
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
    std::cout << GetParam() << " " << key << " max abs error " << err << "\n";
    encoder_states += encoder;
    decoder_states += decoder;
  }
  // Embedding output, then one per layer: the depths differ in distilbart-asym.
  EXPECT_EQ(encoder_states, static_cast<size_t>(f.config.encoder_layers + 1));
  EXPECT_EQ(decoder_states, static_cast<size_t>(f.config.decoder_layers + 1));
  for (const auto& [key, want] : f.ref)
    if (key.find("hidden_states.") != std::string::npos) EXPECT_TRUE(out.count(key)) << key;

  const double enc_err =
      max_abs_diff(out.at("encoder_last_hidden_state"), f.ref.at("encoder_last_hidden_state"));
  EXPECT_LE(enc_err, 1e-4);
  const std::string last = "decoder_hidden_states." + std::to_string(f.config.decoder_layers);
  EXPECT_EQ(out.at("last_hidden_state").to_vector(), out.at(last).to_vector());
  const double logits_err = max_abs_diff(out.at("logits"), f.ref.at("logits"));
  EXPECT_LE(logits_err, 1e-4);
  std::cout << GetParam() << " encoder_last_hidden_state max abs error " << enc_err
            << ", logits max abs error " << logits_err << "\n";

  const double loss = loss_of(f, out.at("logits")).item(), want = f.ref.at("loss").item();
  EXPECT_LE(relative_error(loss, want), 1e-5) << loss << " vs " << want;
  std::cout << GetParam() << " loss " << loss << " vs " << want << "\n";
  if (f.ref.count("loss_label_smoothing_0.1")) {
    const double smooth = loss_of(f, out.at("logits"), 0.1).item();
    const double want_smooth = f.ref.at("loss_label_smoothing_0.1").item();
    EXPECT_LE(relative_error(smooth, want_smooth), 1e-5) << smooth << " vs " << want_smooth;
    std::cout << GetParam() << " label-smoothed loss " << smooth << " vs " << want_smooth << "\n";
  }
}

// The fixtures' decoder inputs are transformers' shift_tokens_right(labels); without
// decoder_input_ids the model shifts input_ids, as BartModel does.
TEST_P(BartReference, ShiftTokensRightAsTransformers) {
  if (!std::filesystem::exists(kRefs + GetParam())) GTEST_SKIP() << "fixtures not present";
  Fixture f = load(GetParam());
  EXPECT_EQ(shift_tokens_right(f.ref.at("labels"), 1, 2).to_ints(),
            f.ref.at("decoder_input_ids").to_ints());
  NoGradGuard ng;
  NamedTensors in = reference_inputs(f);
  in.erase("decoder_input_ids");
  const NamedTensors implicit = f.model->forward(in);
  in["decoder_input_ids"] = shift_tokens_right(f.ref.at("input_ids"), 1, 2);
  EXPECT_EQ(implicit.at("logits").to_vector(), f.model->forward(in).at("logits").to_vector());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BartReference,
                         ::testing::Values("bart-rand", "bart-denoise", "distilbart-asym"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

// The gradients of the loss for every parameter after a backward in f32 (as transformers) and in
// f64 (the arbiter: the same weights and inputs, converted).
std::map<std::string, Tensor> gradients(const Fixture& f, DType dtype) {
  BartModel m(f.config);
  m.load_state_dict(f.model->state_dict(), true, "fixture");
  m.eval();
  // Own copies: load_state_dict adopts the fixture's tensors, whose grads must stay apart.
  for (auto& [name, p] : m.named_parameters()) *p = p->detach().clone().to(dtype);
  for (auto& [name, b] : m.named_buffers()) *b = b->detach().clone().to(dtype);
  m.set_requires_grad(true);
  loss_of(f, m.forward(reference_inputs(f)).at("logits")).backward();
  std::map<std::string, Tensor> out;
  for (auto& [name, p] : m.named_parameters()) out[name] = p->grad();
  return out;
}

// d loss / d parameter for every parameter; the shared embedding's gradient sums its three uses
// (encoder input, decoder input, LM head), as grads.safetensors stores it. The bound is 1e-3
// relative, as for BERT, with one documented exception: decoder layer 0's cross-attention q/k
// (set up as a same-position copy in training, so its softmax is saturated) has gradients 1e-4 to
// 1e-5 in norm, which torch's f32 backward gets only to ~3e-3 of the f64 value (the cancellation
// in the softmax backward). There kiln's f32 gradient must be within 1e-3 of the f64 one while the
// reference is not, and within 1e-2 of the reference; a tensor where the reference agrees with
// f64 but kiln does not still fails.
TEST(BartGradients, EveryParameterGradientMatchesTransformers) {
  if (!std::filesystem::exists(kRefs + "bart-denoise")) GTEST_SKIP() << "fixtures not present";
  const Fixture f = load("bart-denoise");
  const auto ours = gradients(f, DType::F32), exact = gradients(f, DType::F64);
  const StateDict ref = load_safetensors(kRefs + "bart-denoise/grads.safetensors");
  size_t checked = 0;
  double worst = 0;
  std::vector<std::string> noisy_reference;
  for (const auto& [name, got] : ours) {
    ASSERT_TRUE(ref.count(name)) << "no reference gradient for " << name;
    ASSERT_TRUE(got.defined()) << "no gradient reached " << name;
    const Tensor& want = ref.at(name);
    ++checked;
    // As in the BERT test: the key bias's gradient is zero in exact arithmetic (softmax ignores a
    // shift shared by all keys of a query), so both sides hold rounding noise; there the bound is
    // absolute.
    if (std::sqrt(sum(mul(want, want)).item()) < 1e-6) {
      EXPECT_LE(std::sqrt(sum(mul(got, got)).item()), 1e-6) << name;
      continue;
    }
    const double err = rel_norm_diff(got, want);
    if (err <= 1e-3) {
      worst = std::max(worst, err);
      continue;
    }
    const double ref_vs_f64 = rel_norm_diff(want, exact.at(name));
    const double ours_vs_f64 = rel_norm_diff(got, exact.at(name));
    EXPECT_GT(ref_vs_f64, 1e-3) << name << ": kiln differs from transformers by " << err
                                << " where transformers agrees with the f64 gradient";
    EXPECT_LE(ours_vs_f64, 1e-3) << name;
    EXPECT_LE(err, 1e-2) << name;
    noisy_reference.push_back(name);
    std::cout << name << ": kiln vs transformers " << err << ", transformers vs f64 " << ref_vs_f64
              << ", kiln vs f64 " << ours_vs_f64 << "\n";
  }
  EXPECT_EQ(checked, ref.size());
  EXPECT_LE(noisy_reference.size(), 3u);
  for (const auto& name : noisy_reference)
    EXPECT_NE(name.find("decoder.layers.0.encoder_attn."), std::string::npos) << name;
  std::cout << "bart-denoise: " << checked << " gradients, worst relative error elsewhere " << worst
            << "\n";
}

// Inference with packed weights (row-major copies released where not tied) gives the same bits.
TEST(BartModel, PackedInferenceIsBitIdentical) {
  if (!std::filesystem::exists(kRefs + "distilbart-asym")) GTEST_SKIP() << "fixtures not present";
  Fixture f = load("distilbart-asym");
  NoGradGuard ng;
  const auto plain = f.model->forward(reference_inputs(f)).at("logits").to_vector();
  f.model->pack_for_inference(/*release_weights=*/true);
  EXPECT_EQ(f.model->forward(reference_inputs(f)).at("logits").to_vector(), plain);
}

// Decoding one token at a time with the K/V cache (self-attention keys appended per step,
// cross-attention keys computed once) gives the logits of the full teacher-forced pass.
TEST(BartModel, IncrementalDecodingWithTheCacheMatchesTheFullPass) {
  for (const char* name : {"distilbart-asym", "bart-rand"}) {
    if (!std::filesystem::exists(kRefs + name)) GTEST_SKIP() << "fixtures not present";
    SCOPED_TRACE(name);
    Fixture f = load(name);
    NoGradGuard ng;
    const Tensor& mask = f.ref.at("attention_mask");
    const Tensor& dec = f.ref.at("decoder_input_ids");
    const BartStackOutput enc = f.model->encode(f.ref.at("input_ids"), mask);
    const Tensor full = f.model->lm_logits(
        f.model->decode(dec, Tensor(), enc.last_hidden_state, mask).last_hidden_state);
    BartDecoderCache cache;
    double worst = 0;
    for (int64_t t = 0; t < dec.size(1); ++t) {
      const Tensor step =
          f.model->lm_logits(f.model
                                 ->decode(slice(dec, 1, t, t + 1), Tensor(), enc.last_hidden_state,
                                          mask, false, &cache)
                                 .last_hidden_state);
      worst = std::max(worst, max_abs_diff(step, slice(full, 1, t, t + 1)));
      EXPECT_EQ(cache.length, t + 1);
      EXPECT_EQ(cache.self_attention[0].key.size(2), t + 1);
      EXPECT_EQ(cache.cross_attention[0].key.size(2), mask.size(1));
    }
    EXPECT_LE(worst, 1e-4);
    EXPECT_LE(max_abs_diff(full, f.ref.at("logits")), 1e-4);
  }
}

// Dropout (embeddings, attention probabilities, activations, block outputs) acts in training
// mode with a generator only: with every probability 0 training equals eval bit for bit; with
// transformers' dropout 0.1 it does not.
TEST(BartModel, DropoutActsInTrainingOnly) {
  const std::string dir = kRefs + "bart-denoise";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not present";
  BartConfig c = BartConfig::from_json(read_json(dir + "/config.json"), dir);
  const StateDict weights = load_safetensors(dir + "/model.safetensors");
  const StateDict ref = load_safetensors(dir + "/reference.safetensors");
  auto logits = [&](double p, bool training, bool with_gen) {
    c.dropout = c.attention_dropout = c.activation_dropout = p;
    BartModel m(c);
    m.load_state_dict(weights, true, dir);
    m.train(training);
    Generator gen(5);
    if (with_gen) m.set_dropout_generator(&gen);
    NoGradGuard ng;
    return m
        .forward({{"input_ids", ref.at("input_ids")},
                  {"attention_mask", ref.at("attention_mask")},
                  {"decoder_input_ids", ref.at("decoder_input_ids")}})
        .at("logits")
        .to_vector();
  };
  const auto eval = logits(0.1, false, true);
  EXPECT_EQ(logits(0.0, true, true), eval);
  EXPECT_EQ(logits(0.1, true, false), eval);  // no generator: no dropout randomness asked for
  EXPECT_NE(logits(0.1, true, true), eval);
}

// ---- configs, tied weights, import, init (small synthetic models) ----

nlohmann::json tiny_config() {
  return {{"model_type", "bart"},
          {"architectures", {"BartForConditionalGeneration"}},
          {"vocab_size", 12},
          {"d_model", 8},
          {"max_position_embeddings", 16},
          {"encoder_layers", 3},
          {"decoder_layers", 1},
          {"encoder_attention_heads", 2},
          {"decoder_attention_heads", 4},
          {"encoder_ffn_dim", 16},
          {"decoder_ffn_dim", 12},
          {"init_std", 0.5},
          {"pad_token_id", 1},
          {"forced_bos_token_id", 0}};
}

TEST(BartConfig, ParsesAsymmetricStacksAndTokenIds) {
  const BartConfig c = BartConfig::from_json(tiny_config(), "t/config.json");
  EXPECT_EQ(c.encoder_layers, 3);
  EXPECT_EQ(c.decoder_layers, 1);
  EXPECT_EQ(c.encoder_heads, 2);
  EXPECT_EQ(c.decoder_heads, 4);
  EXPECT_EQ(c.encoder_ffn_dim, 16);
  EXPECT_EQ(c.decoder_ffn_dim, 12);
  EXPECT_TRUE(c.lm_head);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.forced_bos_token_id, 0);
  EXPECT_EQ(c.decoder_start_token_id, 2);  // transformers' default
  const ModelSpec s = family_by_name("bart", "test").parse_config(tiny_config(), "t/config.json");
  EXPECT_EQ(s.special_token_ids.at("forced_bos_token_id"), 0);
  EXPECT_EQ(s.special_token_ids.at("decoder_start_token_id"), 2);
  EXPECT_EQ(s.max_tokens, 16);
  bool found = false;
  for (const auto& [k, v] : s.summary) found |= k == "encoder" && v == "3 layers, 2 heads, ffn 16";
  EXPECT_TRUE(found);
}

TEST(BartConfig, ErrorsNameTheFileAndTheField) {
  auto error_with = [](const char* field, const nlohmann::json& value) {
    nlohmann::json j = tiny_config();
    if (value.is_null())
      j.erase(field);
    else
      j[field] = value;
    return message_of([&] { BartConfig::from_json(j, "x/config.json"); });
  };
  for (const char* field : {"d_model", "encoder_layers", "decoder_attention_heads",
                            "decoder_ffn_dim", "vocab_size", "max_position_embeddings"}) {
    const std::string m = error_with(field, nullptr);
    EXPECT_NE(m.find("x/config.json"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string("'") + field + "'"), std::string::npos) << m;
  }
  std::string m = error_with("decoder_attention_heads", 3);
  EXPECT_NE(m.find("decoder_attention_heads 3"), std::string::npos) << m;
  m = error_with("activation_function", "swish");
  EXPECT_NE(m.find("'activation_function' is 'swish'"), std::string::npos) << m;
  m = error_with("attention_dropout", 1.0);
  EXPECT_NE(m.find("'attention_dropout' is 1"), std::string::npos) << m;
  m = error_with("d_model", "8");
  EXPECT_NE(m.find("'d_model' has the wrong type"), std::string::npos) << m;
  m = error_with("normalize_before", true);
  EXPECT_NE(m.find("'normalize_before' is true"), std::string::npos) << m;
  EXPECT_NE(m.find("pre-LayerNorm"), std::string::npos) << m;
  EXPECT_EQ(error_with("normalize_before", false), "(no error)");
  m = error_with("architectures", nlohmann::json::array({"BartForSequenceClassification"}));
  EXPECT_NE(m.find("BartForSequenceClassification"), std::string::npos) << m;
  EXPECT_NE(m.find("'architectures'"), std::string::npos) << m;
  m = error_with("decoder_start_token_id", 12);
  EXPECT_NE(m.find("'decoder_start_token_id' is 12"), std::string::npos) << m;
}

// mBART, PEGASUS, Marian... are not claimed by the family; the error says why, both through the
// registry and when a config reaches the bart family directly (a model file's kiln.family).
TEST(BartConfig, SentencePieceRelativesAreRefusedWithTheReason) {
  nlohmann::json j = tiny_config();
  j["model_type"] = "mbart";
  const std::string direct = message_of([&] { BartConfig::from_json(j, "m/config.json"); });
  EXPECT_NE(direct.find("m/config.json: model_type 'mbart' is not supported"), std::string::npos)
      << direct;
  EXPECT_NE(direct.find("SentencePiece"), std::string::npos) << direct;
  const std::string routed = message_of([&] { family_for_config(j, "m/config.json"); });
  EXPECT_NE(routed.find("model_type 'mbart' is not supported: mBART"), std::string::npos) << routed;
  EXPECT_NE(routed.find("SentencePiece"), std::string::npos) << routed;
  EXPECT_NE(routed.find("supported: bart"), std::string::npos) << routed;
  for (const char* type : {"pegasus", "marian"}) {
    j["model_type"] = type;
    EXPECT_NE(message_of([&] { family_for_config(j, "c"); }).find("SentencePiece"),
              std::string::npos)
        << type;
  }
  EXPECT_EQ(&family_for_config(tiny_config(), "c"), &family_by_name("bart", "c"));
}

TEST(BartModel, SharedEmbeddingIsTiedToBothStacksAndTheLmHead) {
  BartModel m(BartConfig::from_json(tiny_config(), "t"));
  const auto aliases = m.parameter_aliases();
  for (const char* alias :
       {"model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"})
    EXPECT_EQ(aliases.count(alias) ? aliases.at(alias) : "", "model.shared.weight") << alias;
  const StateDict sd = m.state_dict();
  EXPECT_TRUE(sd.count("model.shared.weight"));
  EXPECT_TRUE(sd.count("final_logits_bias"));  // a buffer
  EXPECT_TRUE(sd.count("model.encoder.layers.2.self_attn.k_proj.bias"));
  EXPECT_TRUE(sd.count("model.decoder.layers.0.encoder_attn_layer_norm.weight"));
  EXPECT_FALSE(sd.count("lm_head.weight"));
  EXPECT_EQ(sd.at("model.encoder.embed_positions.weight").shape(), (Shape{18, 8}));  // offset 2

  nlohmann::json untied = tiny_config();
  untied["tie_word_embeddings"] = false;
  BartModel u(BartConfig::from_json(untied, "t"));
  EXPECT_FALSE(u.parameter_aliases().count("lm_head.weight"));
  EXPECT_TRUE(u.state_dict().count("lm_head.weight"));

  nlohmann::json bare = tiny_config();
  bare["architectures"] = {"BartModel"};
  BartModel b(BartConfig::from_json(bare, "t"));
  EXPECT_TRUE(b.state_dict().count("shared.weight"));
  EXPECT_FALSE(b.state_dict().count("final_logits_bias"));
  // The family's count from the config alone (its pre-build size checks) is the model's.
  const ModelFamily& family = family_by_name("bart", "t");
  EXPECT_EQ(family.parameter_count(tiny_config(), "t"), m.parameter_count());
  EXPECT_EQ(family.parameter_count(untied, "t"), u.parameter_count());
  EXPECT_EQ(family.parameter_count(bare, "t"), b.parameter_count());

  Generator gen(1);
  b.init_weights(gen);
  NoGradGuard ng;
  const NamedTensors out = b.forward({{"input_ids", Tensor::from_ints({0, 5, 2}, {1, 3})}});
  EXPECT_FALSE(out.count("logits"));
  EXPECT_EQ(out.at("last_hidden_state").shape(), (Shape{1, 3, 8}));
}

TEST(BartModel, InitWeightsFollowsTransformers) {
  BartModel m(BartConfig::from_json(tiny_config(), "t"));
  Generator gen(7);
  m.init_weights(gen);
  const StateDict sd = m.state_dict();
  const auto shared = sd.at("model.shared.weight").to_vector();
  double sq = 0;
  for (double v : shared) sq += v * v;
  EXPECT_NEAR(std::sqrt(sq / (shared.size() - 8)), 0.5, 0.1);     // init_std, padding row aside
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(shared[8 + i], 0.0);  // pad_token_id 1
  for (double v : sd.at("model.decoder.layers.0.fc1.bias").to_vector()) EXPECT_EQ(v, 0.0);
  for (double v : sd.at("model.encoder.layernorm_embedding.weight").to_vector()) EXPECT_EQ(v, 1.0);
  for (double v : sd.at("final_logits_bias").to_vector()) EXPECT_EQ(v, 0.0);
  const auto pos = sd.at("model.decoder.embed_positions.weight").to_vector();
  EXPECT_NE(pos[0], 0.0);  // position tables have no padding row
}

// `kiln convert`'s import: tied aliases stored in a checkpoint are accepted when equal to
// model.shared.weight and refused when not; a bare BartModel checkpoint fits a
// BartForConditionalGeneration config and the reverse.
TEST(BartFamily, ImportAcceptsEqualAliasesAndRefusesDifferentOnes) {
  const ModelFamily& family = family_by_name("bart", "test");
  BartModel m(BartConfig::from_json(tiny_config(), "t"));
  Generator gen(3);
  m.init_weights(gen);
  StateDict sd = m.state_dict();
  sd["lm_head.weight"] = sd.at("model.shared.weight").clone();
  sd["model.decoder.embed_tokens.weight"] = sd.at("model.shared.weight").clone();
  ConvertedWeights w = family.import_checkpoint(tiny_config(), sd, "ck");
  EXPECT_FALSE(w.tensors.count("lm_head.weight"));
  EXPECT_FALSE(w.tensors.count("model.decoder.embed_tokens.weight"));
  BartModel loaded(BartConfig::from_json(tiny_config(), "t"));
  loaded.load_state_dict(w.tensors, true, "ck");

  StateDict bad = sd;
  bad["lm_head.weight"] = mul(sd.at("model.shared.weight"), 2.0);
  const std::string msg = message_of([&] { family.import_checkpoint(tiny_config(), bad, "ck"); });
  EXPECT_NE(msg.find("'lm_head.weight' differs from 'model.shared.weight'"), std::string::npos)
      << msg;

  // A bare BartModel checkpoint: every name gains "model.", final_logits_bias stays zero.
  StateDict bare;
  for (const auto& [name, t] : m.state_dict())
    if (name != "final_logits_bias") bare[name.substr(6)] = t;
  w = family.import_checkpoint(tiny_config(), bare, "ck");
  EXPECT_TRUE(w.tensors.count("model.shared.weight"));
  loaded.load_state_dict(w.tensors, true, "ck");

  // The reverse: the LM head is dropped, the prefix removed.
  nlohmann::json base = tiny_config();
  base["architectures"] = {"BartModel"};
  w = family.import_checkpoint(base, m.state_dict(), "ck");
  EXPECT_EQ(w.dropped, (std::vector<std::string>{"final_logits_bias"}));
  BartModel b(BartConfig::from_json(base, "t"));
  b.load_state_dict(w.tensors, true, "ck");
}

}  // namespace
}  // namespace kiln::nn
