// kiln quantize end to end on the tiny transformers fixtures (../shared/refs/models): a quantized
// model's logits stay within each format's tolerance of the float model's, every inference
// command runs on it unchanged, inspect shows the formats, zstd round-trips exactly, auto keeps
// its budget on its calibration data, and bad input fails naming the flag or field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"
#include "tests/quant/forward_logits.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// bert-seqcls (hidden 32, 2 layers, 28996-row vocabulary) converted once for the suite, with
// the reference inputs as a kiln forward input file and its texts+labels as calibration data.
class QuantizeBert : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string src = kRefs + "bert-seqcls";
    if (!fs::exists(src)) return;
    const auto conv = run_kiln("convert " + src + " -o " + float_model());
    ASSERT_EQ(conv.exit_code, 0) << conv.output;
    const nn::StateDict ref = nn::load_safetensors(src + "/reference.safetensors");
    nn::StateDict inputs;
    for (const char* n : {"input_ids", "attention_mask", "token_type_ids"})
      if (ref.count(n)) inputs[n] = ref.at(n);
    nn::save_safetensors(*dir_ / "in.safetensors", inputs);
    const auto r = read_json(src + "/reference.json");
    std::ofstream cal(*dir_ / "cal.jsonl"), txt(*dir_ / "texts.jsonl");
    for (size_t i = 0; i < r["reference_texts"].size(); ++i) {
      const int label = r["reference_labels"][i];
      cal << nlohmann::json{{"text", r["reference_texts"][i]},
                            {"label", label ? "positive" : "negative"}}
                 .dump()
          << "\n";
      txt << nlohmann::json{{"text", r["reference_texts"][i]}}.dump() << "\n";
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    if (!fs::exists(float_model())) GTEST_SKIP() << "fixture bert-seqcls not present";
  }
  static std::string float_model() { return *dir_ / "f.kiln"; }
  static std::string path(const std::string& name) { return *dir_ / name; }
  static Tensor logits(const std::string& model) {
    return forward_logits(model, path("in.safetensors"));
  }
  static TempDir* dir_;
};
TempDir* QuantizeBert::dir_ = nullptr;

TEST_F(QuantizeBert, LogitsStayCloseToTheFloatModelInEveryFormat) {
  const Tensor want = logits(float_model());
  ASSERT_TRUE(want.defined());
  double scale = 0;
  for (double v : want.to_vector()) scale = std::max(scale, std::abs(v));
  // Stated tolerances, relative to the largest float logit: int8 weights (and int8 activations
  // in the fast kernel) 5%, 4-bit blocks 15%, bf16 1%.
  const std::vector<std::pair<std::string, double>> schemes = {
      {"int8", 0.05}, {"q4_0", 0.15}, {"q4_1", 0.15}, {"bf16", 0.01}};
  for (const auto& [scheme, tol] : schemes) {
    const std::string q = path(scheme + ".kiln");
    const auto r = run_kiln("quantize -m " + float_model() + " -o " + q + " --scheme " + scheme +
                            " --no-speed-check");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // The table names each decision; the classifier head stays float and says why.
    EXPECT_TRUE(contains(r.output, "bert.encoder.layer.0.attention.self.query.weight")) << r.output;
    EXPECT_TRUE(contains(r.output, "classifier head")) << r.output;
    const Tensor got = logits(q);
    ASSERT_TRUE(got.defined());
    const double err = max_abs_diff(got, want);
    std::cout << scheme << ": logits max abs error " << err << " (largest logit " << scale << ")\n";
    EXPECT_LE(err, tol * scale) << scheme;
    EXPECT_GT(err, 0.0) << scheme << ": the weights were not quantized";
  }
  // The file: U8 rows for the quantized Linear and the word embedding, metadata per tensor.
  const nn::ModelFile mf = nn::read_model_file(path("q4_0.kiln"));
  const auto& e = mf.quantization.at("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(e.format, "q4_0");
  EXPECT_EQ(e.shape, Shape({28996, 32}));
  EXPECT_EQ(mf.tensors.at("bert.embeddings.word_embeddings.weight").dtype(), DType::U8);
  EXPECT_EQ(mf.tensors.at("bert.embeddings.word_embeddings.weight").shape(), Shape({28996, 18}));
  EXPECT_EQ(mf.quantization.at("classifier.weight").format, "f32");
  EXPECT_FALSE(mf.quantization.count("bert.embeddings.position_embeddings.weight") &&
               mf.quantization.at("bert.embeddings.position_embeddings.weight").format != "f32");
  EXPECT_EQ(mf.tensors.at("bert.embeddings.LayerNorm.weight").dtype(), DType::F32);
}

TEST_F(QuantizeBert, InferenceCommandsRunUnchangedAndInspectShowsFormats) {
  const std::string q = path("cmd-int8.kiln");
  ASSERT_EQ(run_kiln("quantize -m " + float_model() + " -o " + q + " --no-speed-check").exit_code,
            0);
  const auto f = run_kiln("classify -m " + float_model() + " -i " + path("texts.jsonl"), false);
  const auto c = run_kiln("classify -m " + q + " -i " + path("texts.jsonl"), false);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(std::count(c.output.begin(), c.output.end(), '\n'), 4) << c.output;
  const auto e =
      run_kiln("eval -m " + q + " --task sequence-classification -i " + path("cal.jsonl"), false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(nlohmann::json::parse(e.output).contains("accuracy")) << e.output;
  const auto i = run_kiln("inspect " + q);
  ASSERT_EQ(i.exit_code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "quantization")) << i.output;
  EXPECT_TRUE(contains(i.output, "int8: 14")) << i.output;  // 12 encoder Linear, pooler, words
  EXPECT_TRUE(contains(i.output, "as f32")) << i.output;
  const auto j = run_kiln("inspect --json " + q, false);
  ASSERT_EQ(j.exit_code, 0);
  const auto js = nlohmann::json::parse(j.output);
  EXPECT_EQ(js["quantization"]["formats"]["bert.pooler.dense.weight"], "int8");
  EXPECT_LT(js["quantization"]["stored_bytes"].get<double>(),
            0.3 * js["quantization"]["float_bytes"].get<double>());
}

TEST_F(QuantizeBert, ZstdRoundTripIsExact) {
  const std::string plain = path("z-plain.kiln"), packed = path("z-zstd.kiln");
  ASSERT_EQ(run_kiln("quantize -m " + float_model() + " -o " + plain + " --scheme q4_1").exit_code,
            0);
  const auto r =
      run_kiln("quantize -m " + float_model() + " -o " + packed + " --scheme q4_1 --compress zstd");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "with zstd:")) << r.output;
  EXPECT_LT(fs::file_size(packed), fs::file_size(plain));
  const nn::ModelFile a = nn::read_model_file(plain), b = nn::read_model_file(packed);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const Tensor& u = b.tensors.at(name);
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    ASSERT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(0, std::memcmp(t.raw_data(), u.raw_data(), t.numel() * dtype_size(t.dtype())))
        << name;
  }
  EXPECT_EQ(max_abs_diff(logits(plain), logits(packed)), 0.0);
  // Still a safetensors file any reader parses: inspect lists the compressed sizes.
  const auto i = run_kiln("inspect " + packed);
  ASSERT_EQ(i.exit_code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "zstd-compressed")) << i.output;
  // A corrupt kiln.compression entry is refused by name.
  std::map<std::string, std::string> meta;
  const nn::StateDict stored = nn::load_safetensors(packed, &meta);
  auto j = nlohmann::json::parse(meta.at("kiln.compression"));
  const std::string name = j["tensors"].begin().key();
  j["tensors"][name]["shape"] = {3};
  meta["kiln.compression"] = j.dump();
  nn::save_safetensors(path("z-bad.kiln"), stored, meta);
  const auto bad = run_kiln("forward -m " + path("z-bad.kiln") + " -i " + path("in.safetensors") +
                            " -o " + path("z-bad.out"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.output, "kiln.compression.tensors[\"" + name + "\"]")) << bad.output;
}

TEST_F(QuantizeBert, AutoKeepsTheMetricWithinTheBudgetAndSaysWhy) {
  const std::string q = path("auto.kiln");
  const auto r =
      run_kiln("quantize -m " + float_model() + " -o " + q + " --scheme auto --calibration " +
               path("cal.jsonl") + " --max-drop 0.05 --metric loss --skip 'bert.pooler.*'" +
               " --no-speed-check");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "auto: alone q4_0")) << r.output;
  EXPECT_TRUE(contains(r.output, "--skip bert.pooler.*")) << r.output;
  const nn::ModelFile mf = nn::read_model_file(q);
  const auto meta = nlohmann::json::parse(mf.extra_metadata.at("kiln.quantization"));
  const auto& cal = meta["calibration"];
  EXPECT_EQ(cal["metric"], "loss");
  // The loss (x100) rose by at most the budget, and something was quantized.
  EXPECT_LE(cal["float_metric"].get<double>() - cal["quantized_metric"].get<double>(), 0.05 + 1e-9);
  EXPECT_FALSE(nn::first_quantized_tensor(mf.quantization).empty());
  // The file's own loss on the calibration data is the one the pass measured.
  const auto e =
      run_kiln("eval -m " + q + " --task sequence-classification -i " + path("cal.jsonl"), false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NEAR(-100 * nlohmann::json::parse(e.output)["loss"].get<double>(),
              cal["quantized_metric"].get<double>(), 1e-6);
}

// --auto-formats int8: each eligible tensor ends int8 or float (never 4-bit), only int8 is tried
// (the reasons list no other format), the metadata records the candidates, and a budget of 0
// keeps in float whatever raised the loss. Bad lists are usage errors naming the flag.
TEST_F(QuantizeBert, AutoFormatsInt8ChoosesBetweenInt8AndFloat) {
  const std::string q = path("auto-int8.kiln");
  const auto r = run_kiln("quantize -m " + float_model() + " -o " + q +
                          " --scheme auto --auto-formats int8 --calibration " + path("cal.jsonl") +
                          " --max-drop 0 --metric loss --no-speed-check");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "auto: alone int8 ")) << r.output;
  EXPECT_FALSE(contains(r.output, "q4_0 ")) << r.output;
  const nn::ModelFile mf = nn::read_model_file(q);
  const auto meta = nlohmann::json::parse(mf.extra_metadata.at("kiln.quantization"));
  EXPECT_EQ(meta["calibration"]["formats"], nlohmann::json::array({"int8"}));
  int int8 = 0, kept = 0;
  for (const auto& [name, d] : mf.quantization) {
    if (!contains(d.reason, "auto: alone")) continue;  // not eligible (pinned, head, ...)
    EXPECT_TRUE(d.format == "int8" || d.format == "f32") << name << " " << d.format;
    (d.format == "int8" ? int8 : kept)++;
  }
  EXPECT_GT(int8 + kept, 0);
  EXPECT_LE(meta["calibration"]["float_metric"].get<double>() -
                meta["calibration"]["quantized_metric"].get<double>(),
            1e-9);
  for (const std::string bad : {"int4", "int8,int8", "int8,"}) {
    const auto e = run_kiln("quantize -m " + float_model() + " -o " + path("bad.kiln") +
                            " --scheme auto --auto-formats '" + bad + "' --calibration " +
                            path("cal.jsonl") + " --max-drop 0 --metric loss --no-speed-check");
    EXPECT_NE(e.exit_code, 0) << bad;
    EXPECT_TRUE(contains(e.output, "--auto-formats")) << e.output;
  }
  const auto e = run_kiln("quantize -m " + float_model() + " -o " + path("bad.kiln") +
                          " --scheme int8 --auto-formats int8");
  EXPECT_NE(e.exit_code, 0);
  EXPECT_TRUE(contains(e.output, "--auto-formats applies to --scheme auto")) << e.output;
}

// --gptq: q4 rounding weighed by each Linear's inputs on the calibration data. The decisions say
// so, the metadata records the data, the bytes differ from plain rounding's, the file runs, and
// its logits on those very inputs stay within the 4-bit tolerance of the float model.
TEST_F(QuantizeBert, GptqRoundsWithTheCalibrationInputs) {
  const std::string plain = path("gptq-plain.kiln"), q = path("gptq.kiln");
  ASSERT_EQ(
      run_kiln("quantize -m " + float_model() + " -o " + plain + " --scheme q4_0 --no-speed-check")
          .exit_code,
      0);
  const auto r =
      run_kiln("quantize -m " + float_model() + " -o " + q +
               " --scheme q4_0 --gptq --calibration " + path("cal.jsonl") + " --no-speed-check");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "GPTQ on ")) << r.output;
  const nn::ModelFile mf = nn::read_model_file(q), pf = nn::read_model_file(plain);
  const auto meta = nlohmann::json::parse(mf.extra_metadata.at("kiln.quantization"));
  EXPECT_EQ(meta["gptq"]["examples"], 4) << meta.dump();
  EXPECT_EQ(meta["gptq"]["damp"], 0.01);
  const std::string name = "bert.encoder.layer.0.attention.self.query.weight";
  EXPECT_TRUE(contains(mf.quantization.at(name).reason, "GPTQ on "))
      << mf.quantization.at(name).reason;
  // The embedding has no inputs to weigh: rounded plainly, the same bytes as without --gptq.
  const std::string emb = "bert.embeddings.word_embeddings.weight";
  EXPECT_FALSE(contains(mf.quantization.at(emb).reason, "GPTQ"));
  EXPECT_EQ(mf.tensors.at(emb).to_vector(), pf.tensors.at(emb).to_vector());
  EXPECT_NE(mf.tensors.at(name).to_vector(), pf.tensors.at(name).to_vector());
  const Tensor want = logits(float_model()), got = logits(q), rtn = logits(plain);
  ASSERT_TRUE(got.defined() && rtn.defined());
  double scale = 0;
  for (double v : want.to_vector()) scale = std::max(scale, std::abs(v));
  std::cout << "q4_0 logits max abs error on the calibration inputs: plain "
            << max_abs_diff(rtn, want) << ", GPTQ " << max_abs_diff(got, want) << "\n";
  EXPECT_LE(max_abs_diff(got, want), 0.15 * scale);
  // On the inputs it was weighed by, GPTQ's model is closer to the float one than plain rounding's
  // (deterministic: same fixture, same bytes every run).
  EXPECT_LT(max_abs_diff(got, want), max_abs_diff(rtn, want));
  EXPECT_EQ(run_kiln("classify -m " + q + " -i " + path("texts.jsonl"), false).exit_code, 0);

  const std::string base = "quantize -m " + float_model() + " -o " + path("gptq-bad.kiln");
  const std::string cal = " --calibration " + path("cal.jsonl");
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {" --scheme int8 --gptq" + cal, "--gptq applies to --scheme q4_0 or q4_1"},
           {" --scheme q4_0 --gptq", "--gptq needs --calibration"},
           {" --scheme q4_0 --gptq-damp 0.1", "--gptq-damp applies to --gptq"},
           {" --scheme q4_0 --gptq --gptq-damp 2" + cal, "--gptq-damp must be"},
           {" --scheme q4_0" + cal, "--calibration applies to --scheme auto and to --gptq"}}) {
    const auto bad = run_kiln(base + flags);
    EXPECT_NE(bad.exit_code, 0) << flags;
    EXPECT_TRUE(contains(bad.output, message)) << flags << ": " << bad.output;
  }
  EXPECT_FALSE(fs::exists(path("gptq-bad.kiln")));
}

// When the speed check puts tensors that auto chose back in float (here likely: --never-slower
// times q4 too, at 1 row, where float often wins), the metric recorded is still the file's own.
TEST_F(QuantizeBert, AutoRecordsTheMetricOfTheFileAfterTheSpeedCheck) {
  const std::string q = path("auto-speed.kiln");
  const auto r =
      run_kiln("quantize -m " + float_model() + " -o " + q + " --scheme auto --calibration " +
               path("cal.jsonl") + " --max-drop 0.05 --metric loss --never-slower --bench-rows 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto meta =
      nlohmann::json::parse(nn::read_model_file(q).extra_metadata.at("kiln.quantization"));
  EXPECT_EQ(meta["speed_check"], "all");
  const auto e =
      run_kiln("eval -m " + q + " --task sequence-classification -i " + path("cal.jsonl"), false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NEAR(-100 * nlohmann::json::parse(e.output)["loss"].get<double>(),
              meta["calibration"]["quantized_metric"].get<double>(), 1e-6);
}

// The default speed check ("never slower") times each distinct int8 Linear shape here and records
// it; whichever side won, every int8 decision says so, and the file runs. q4 is left alone.
TEST_F(QuantizeBert, SpeedCheckIsOnByDefaultForInt8AndRecorded) {
  const std::string q = path("speed-int8.kiln");
  const auto r = run_kiln("quantize -m " + float_model() + " -o " + q + " --bench-rows 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nn::ModelFile mf = nn::read_model_file(q);
  const auto meta = nlohmann::json::parse(mf.extra_metadata.at("kiln.quantization"));
  EXPECT_EQ(meta["speed_check"], "int8") << meta.dump();
  // bert-seqcls's Linear shapes: 32x32 (q, k, v, output, pooler), 64x32 and 32x64 (the MLP).
  const auto& bench = meta["benchmark"];
  ASSERT_EQ(bench.size(), 3u) << bench.dump();
  for (const auto& b : bench) {
    EXPECT_EQ(b["rows"], 8);
    EXPECT_GT(b["float_ms"].get<double>(), 0.0);
    EXPECT_GT(b["quant_ms"].get<double>(), 0.0);
  }
  const auto& d = mf.quantization.at("bert.encoder.layer.0.attention.self.query.weight");
  EXPECT_TRUE(d.format == "int8" || d.format == "f32") << d.format;
  EXPECT_TRUE(contains(d.reason, "slower: float")) << d.reason;
  EXPECT_TRUE(contains(r.output, "slower: float")) << r.output;
  EXPECT_EQ(run_kiln("classify -m " + q + " -i " + path("texts.jsonl"), false).exit_code, 0);
  // q4 is chosen for size: not timed unless --never-slower.
  const auto q4 = run_kiln("quantize -m " + float_model() + " -o " + path("speed-q4.kiln") +
                           " --scheme q4_0 --bench-rows 8");
  ASSERT_EQ(q4.exit_code, 0) << q4.output;
  const auto meta4 = nlohmann::json::parse(
      nn::read_model_file(path("speed-q4.kiln")).extra_metadata.at("kiln.quantization"));
  EXPECT_TRUE(meta4["benchmark"].empty()) << meta4.dump();
  EXPECT_FALSE(contains(q4.output, "slower")) << q4.output;
}

TEST_F(QuantizeBert, BadInputNamesTheFlagOrField) {
  const std::string base = "quantize -m " + float_model() + " -o " + path("bad.kiln");
  auto r = run_kiln(base + " --scheme int9");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "--scheme: unknown scheme 'int9'")) << r.output;
  r = run_kiln(base + " --scheme auto --max-drop 0.5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "--max-drop needs --calibration")) << r.output;
  r = run_kiln(base + " --compress lz4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "--compress")) << r.output;
  r = run_kiln(base + " --never-slower --no-speed-check");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "contradict")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad.kiln")));

  const std::string q = path("e-int8.kiln");
  ASSERT_EQ(run_kiln("quantize -m " + float_model() + " -o " + q + " --no-speed-check").exit_code,
            0);
  r = run_kiln("quantize -m " + q + " -o " + path("twice.kiln"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "already quantized")) << r.output;
  r = run_kiln("train -m " + q + " --task sequence-classification --train " + path("cal.jsonl") +
               " -o " + path("run"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "is quantized")) << r.output;
  EXPECT_TRUE(contains(r.output, ".weight'")) << r.output;

  // A corrupt kiln.quantization entry: each is refused by name before anything runs.
  std::map<std::string, std::string> meta;
  const nn::StateDict tensors = nn::load_safetensors(q, &meta);
  const std::string name = "bert.encoder.layer.0.attention.self.query.weight";
  auto corrupt = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto m = meta;
    auto j = nlohmann::json::parse(m.at("kiln.quantization"));
    edit(j);
    m["kiln.quantization"] = j.dump();
    nn::save_safetensors(path("corrupt.kiln"), tensors, m);
    return run_kiln("classify -m " + path("corrupt.kiln") + " -i " + path("texts.jsonl"));
  };
  r = corrupt([&](nlohmann::json& j) { j["tensors"][name]["format"] = "int9"; });
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "kiln.quantization.tensors[\"" + name + "\"].format")) << r.output;
  r = corrupt([&](nlohmann::json& j) { j["tensors"][name]["shape"] = {32, 64}; });
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "kiln.quantization.tensors[\"" + name + "\"]")) << r.output;
  r = corrupt([&](nlohmann::json& j) { j["tensors"]["no.such.weight"] = j["tensors"][name]; });
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "has no tensor 'no.such.weight'")) << r.output;
  r = corrupt([&](nlohmann::json& j) { j["tensors"].erase(name); });
  EXPECT_NE(r.exit_code, 0);  // U8 rows without an entry are not a float weight
  EXPECT_TRUE(contains(r.output, name)) << r.output;
}

// The tagger: kiln tag runs on a q4_0 model unchanged.
TEST(QuantizeCli, TagRunsOnAQuantizedTagger) {
  TempDir tmp;
  const std::string tok = kRefs + "bert-tokcls";
  if (fs::exists(tok)) {
    ASSERT_EQ(run_kiln("convert " + tok + " -o " + (tmp / "t.kiln")).exit_code, 0);
    const auto q =
        run_kiln("quantize -m " + (tmp / "t.kiln") + " -o " + (tmp / "tq.kiln") + " --scheme q4_0");
    ASSERT_EQ(q.exit_code, 0) << q.output;
    std::ofstream(tmp / "w.jsonl") << R"({"text": "John lives in Berlin"})"
                                   << "\n";
    const auto f = run_kiln("tag -m " + (tmp / "t.kiln") + " -i " + (tmp / "w.jsonl"), false);
    const auto r = run_kiln("tag -m " + (tmp / "tq.kiln") + " -i " + (tmp / "w.jsonl"), false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_EQ(f.exit_code, 0) << f.output;
    // Same word labels as the float tagger on this input (scores differ slightly).
    EXPECT_EQ(nlohmann::json::parse(r.output)["labels"], nlohmann::json::parse(f.output)["labels"])
        << r.output << f.output;
  }
}

// BART: forward and generation (kiln summarize) run on quantized Linear layers and, asked, on the
// quantized shared embedding / LM head.
TEST(QuantizeCli, BartRunsOnQuantizedLinearsAndHead) {
  TempDir tmp;
  const std::string bart = kRefs + "bart-rand";
  if (fs::exists(bart)) {
    const std::string fm = tmp / "b.kiln", plain = tmp / "bq.kiln", head = tmp / "bqh.kiln";
    ASSERT_EQ(run_kiln("convert " + bart + " -o " + fm).exit_code, 0);
    auto q = run_kiln("quantize -m " + fm + " -o " + plain + " --no-speed-check");
    ASSERT_EQ(q.exit_code, 0) << q.output;
    // BART's shared embedding is also its LM head (tied): kept float unless asked, saying why.
    EXPECT_TRUE(contains(q.output, "tied to lm_head.weight")) << q.output;
    q = run_kiln("quantize -m " + fm + " -o " + head + " --include-head --no-speed-check");
    ASSERT_EQ(q.exit_code, 0) << q.output;
    // Asked: one int8 tensor serves the encoder's and decoder's tables and the LM head.
    const nn::ModelFile mf = nn::read_model_file(head);
    EXPECT_EQ(mf.quantization.at("model.shared.weight").format, "int8");
    // Teacher-forced logits against the float model's (relative to the largest logit).
    const nn::StateDict ref = nn::load_safetensors(bart + "/reference.safetensors");
    nn::StateDict in;
    for (const char* n : {"input_ids", "attention_mask", "decoder_input_ids"}) in[n] = ref.at(n);
    nn::save_safetensors(tmp / "in.safetensors", in);
    auto logits = [&](const std::string& model) {
      const auto r = run_kiln("forward -m " + model + " -i " + (tmp / "in.safetensors") + " -o " +
                              (tmp / "out.safetensors"));
      EXPECT_EQ(r.exit_code, 0) << r.output;
      return r.exit_code == 0 ? nn::load_safetensors(tmp / "out.safetensors").at("logits")
                              : Tensor();
    };
    const Tensor want = logits(fm);
    for (const std::string& m : {plain, head}) {
      const double err = max_diff_over_max(logits(m), want);
      std::cout << m << ": bart-rand logits max error / max logit " << err << "\n";
      EXPECT_LE(err, 0.05) << m;
    }
    // Generation (greedy, cached decoder) runs on the quantized Linear layers and LM head.
    std::ofstream(tmp / "doc.txt") << "The quick brown fox jumps over the lazy dog.\n";
    const auto r =
        run_kiln("summarize -m " + head + " -i " + (tmp / "doc.txt") + " --max-length 8", false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "\"ids\"")) << r.output;
  }
}

// auto on a summarizer: ROUGE-L of generated summaries is the budgeted metric, decoded as the
// --generation-* flags say (recorded in the metadata); those flags are refused where nothing
// generates.
TEST(QuantizeCli, AutoOnASummarizerBudgetsRougeWithTheGenerationFlags) {
  TempDir tmp;
  const std::string bart = kRefs + "bart-rand";
  if (!fs::exists(bart)) GTEST_SKIP() << "fixture bart-rand not present";
  const std::string fm = tmp / "b.kiln", q = tmp / "auto.kiln";
  ASSERT_EQ(run_kiln("convert " + bart + " -o " + fm).exit_code, 0);
  {
    std::ofstream cal(tmp / "cal.jsonl");
    cal << nlohmann::json{{"text", "The quick brown fox jumps over the lazy dog."},
                          {"summary", "A fox jumps."}}
               .dump()
        << "\n"
        << nlohmann::json{{"reviews", {"Great food.", "Slow service but great food."}},
                          {"summary", {"Great food, slow service.", "Food good."}}}
               .dump()
        << "\n";
  }
  const std::string base = "quantize -m " + fm + " -o " + q + " --no-speed-check";
  const auto r =
      run_kiln(base + " --scheme auto --task summarization --calibration " + (tmp / "cal.jsonl") +
               " --max-drop 100 --metric rougeL --generation-num-beams 1"
               " --generation-max-new-tokens 6 --skip 'model.encoder.*'");  // fewer evaluations
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "auto: alone q4_0")) << r.output;
  const auto meta =
      nlohmann::json::parse(nn::read_model_file(q).extra_metadata.at("kiln.quantization"));
  const auto& cal = meta["calibration"];
  EXPECT_EQ(cal["task"], "summarization");
  EXPECT_EQ(cal["metric"], "rougeL");
  EXPECT_EQ(cal["generation_flags"]["generation-num-beams"], "1") << cal.dump();
  EXPECT_EQ(cal["generation_flags"]["generation-max-new-tokens"], "6") << cal.dump();
  EXPECT_LE(cal["float_metric"].get<double>() - cal["quantized_metric"].get<double>(), 100 + 1e-9);

  auto bad = run_kiln(base + " --scheme int8 --generation-num-beams 2");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.output, "--generation-num-beams applies to --scheme auto"))
      << bad.output;
  bad = run_kiln(base + " --scheme auto --task summarization --calibration " + (tmp / "cal.jsonl") +
                 " --max-drop 1 --generation-num-beams 1 --generation-num-return-sequences 2");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.output, "num") && contains(bad.output, "return")) << bad.output;
  EXPECT_FALSE(fs::exists(tmp / "never.kiln"));
}

}  // namespace
}  // namespace kiln::testing
