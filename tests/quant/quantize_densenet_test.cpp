// kiln quantize on the DenseNet fixtures (../shared/refs/models/densenet-tiny, fusion-tiny):
// convolutions are quantized as their GEMMs (the stem conv and the classifier stay float unless
// --include-head), kiln forward / eval / inspect run the files unchanged, the logits stay within
// each format's tolerance of the float model's on the fixture's reference batch and predict the
// same classes, and auto calibrates on images.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"
#include "tests/quant/forward_logits.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
const std::string kShared = KILN_SHARED_DIR;
const std::string kRefs = kShared + "/refs/models/";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const auto v = logits.to_floats();
  const int64_t n = logits.size(0), c = logits.size(1);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(std::max_element(v.begin() + i * c, v.begin() + (i + 1) * c) - v.begin() - i * c);
  return out;
}

// densenet-tiny (64x64 HAM10000 images, 7 classes) converted once, with its reference batch of 8
// images as a kiln forward input file.
class QuantizeDenseNet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string src = kRefs + "densenet-tiny";
    if (!fs::exists(src)) return;
    const auto conv = run_kiln("convert " + src + " -o " + float_model());
    ASSERT_EQ(conv.exit_code, 0) << conv.output;
    nn::StateDict in;
    in["pixel_values"] = nn::load_safetensors(src + "/reference.safetensors").at("input");
    nn::save_safetensors(*dir_ / "in.safetensors", in);
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    if (!fs::exists(float_model())) GTEST_SKIP() << "fixture densenet-tiny not present";
  }
  static std::string float_model() { return *dir_ / "f.kiln"; }
  static std::string path(const std::string& name) { return *dir_ / name; }
  static Tensor logits(const std::string& model) {
    return forward_logits(model, path("in.safetensors"));
  }
  static TempDir* dir_;
};
TempDir* QuantizeDenseNet::dir_ = nullptr;

// Max |logit - float logit| / max |float logit| on the reference batch, measured: int8 0.7%,
// with the stem and classifier too 1.0%; q4_0 6.5%, q4_1 11% (a tiny model trained on 49 images,
// whose 1x1 convs have k = 16..40: one or two 4-bit blocks per row). The bounds leave about 2x.
// The predicted classes must not change.
TEST_F(QuantizeDenseNet, LogitsStayCloseAndPredictTheSameClasses) {
  const Tensor want = logits(float_model());
  ASSERT_TRUE(want.defined());
  const std::vector<int64_t> classes = argmax_rows(want);
  struct Case {
    std::string scheme, extra;
    double tol;
  };
  // --no-speed-check: the speed check may keep int8 convs (and the classifier, a Linear) in
  // float on this machine; here every eligible tensor must be quantized.
  for (const Case& c :
       {Case{"int8", " --no-speed-check", 0.02}, Case{"q4_0", "", 0.15}, Case{"q4_1", "", 0.15},
        Case{"int8", " --include-head --no-speed-check", 0.03}}) {
    const std::string q =
        path(c.scheme + (c.extra.find("head") == std::string::npos ? "" : "-head") + ".kiln");
    const auto r =
        run_kiln("quantize -m " + float_model() + " -o " + q + " --scheme " + c.scheme + c.extra);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Tensor got = logits(q);
    ASSERT_TRUE(got.defined());
    const double err = max_diff_over_max(got, want);
    std::cout << "densenet-tiny " << c.scheme << c.extra << ": logits max error / max logit " << err
              << "\n";
    EXPECT_LE(err, c.tol) << c.scheme << c.extra;
    EXPECT_GT(err, 0) << c.scheme << c.extra << ": nothing was quantized?";
    EXPECT_EQ(argmax_rows(got), classes) << c.scheme << c.extra;
  }
  // What was quantized: every dense-layer and transition conv; conv0 and the classifier only
  // with --include-head, saying why.
  const nn::ModelFile mf = nn::read_model_file(path("int8.kiln"));
  EXPECT_EQ(mf.quantization.at("features.denseblock1.denselayer1.conv2.weight").format, "int8");
  EXPECT_EQ(mf.quantization.at("features.denseblock1.denselayer1.conv2.weight").shape,
            Shape({8, 16, 3, 3}));
  EXPECT_EQ(mf.quantization.at("features.transition1.conv.weight").format, "int8");
  EXPECT_EQ(mf.quantization.at("features.conv0.weight").format, "f32");
  EXPECT_TRUE(contains(mf.quantization.at("features.conv0.weight").reason, "first convolution"));
  EXPECT_EQ(mf.quantization.at("classifier.weight").format, "f32");
  const nn::ModelFile head = nn::read_model_file(path("int8-head.kiln"));
  EXPECT_EQ(head.quantization.at("features.conv0.weight").format, "int8");
  EXPECT_EQ(head.quantization.at("classifier.weight").format, "int8");
}

// The default speed check times the model's forward with its 1x1 and 3x3 convs quantized or in
// float (quant/conv_speed_check.h): every conv decision says which way it went and why, and the
// metadata keeps all four arrangements' timings.
TEST_F(QuantizeDenseNet, SpeedCheckTimesConvolutionsInTheWholeModel) {
  const std::string q = path("int8-checked.kiln");
  const auto r = run_kiln("quantize -m " + float_model() + " -o " + q + " --bench-images 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nn::ModelFile mf = nn::read_model_file(q);
  int convs = 0;
  for (const auto& [name, d] : mf.quantization) {
    if (name.find(".conv") == std::string::npos || name.find("conv0") != std::string::npos)
      continue;
    ++convs;
    EXPECT_TRUE(d.format == "int8" || d.format == "f32") << name << " " << d.format;
    EXPECT_TRUE(contains(
        d.reason, d.format == "f32" ? "never slower: model forward" : "not slower: model forward"))
        << name << ": " << d.reason;
  }
  EXPECT_GT(convs, 4);
  const auto meta = nlohmann::json::parse(mf.extra_metadata.at("kiln.quantization"));
  ASSERT_TRUE(meta.contains("conv_benchmark")) << meta.dump().substr(0, 300);
  const auto& conv = meta["conv_benchmark"];
  EXPECT_EQ(conv["groups"], nlohmann::json({"1x1", "3x3"}));
  EXPECT_EQ(conv["arrangements"].size(), 4u);
  EXPECT_EQ(conv["images"], 2);
  const auto bad =
      run_kiln("quantize -m " + float_model() + " -o " + path("x.kiln") + " --bench-images 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.output, "--bench-images")) << bad.output;
}

TEST_F(QuantizeDenseNet, InspectEvalAndAutoOnImages) {
  const std::string q = path("cmd-q4.kiln");
  const auto r = run_kiln("quantize -m " + float_model() + " -o " + q + " --scheme q4_1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 2 convs x 6 dense layers + 2 transitions.
  EXPECT_TRUE(contains(r.output, "14 tensors quantized")) << r.output;
  const auto i = run_kiln("inspect " + q);
  ASSERT_EQ(i.exit_code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "q4_1: 14")) << i.output;
  // kiln eval from images (decode, resize, normalise) on the HAM10000 sample: same pipeline as
  // the float model, and auto calibrates on the same records with the images' own flags.
  const std::string sample = kShared + "/data/ham10000/sample.jsonl";
  if (!fs::exists(sample)) GTEST_SKIP() << "no HAM10000 sample";
  const std::string data =
      " --image-field image_path --label-field dx --image-dir " + kShared + "/data/ham10000";
  std::ifstream in(sample);
  std::ofstream few(path("few.jsonl"));
  std::string line;
  for (int n = 0; n < 8 && std::getline(in, line); ++n) few << line << "\n";
  few.close();
  const auto e = run_kiln(
      "eval -m " + q + " --task image-classification -i " + path("few.jsonl") + data, false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_EQ(nlohmann::json::parse(e.output)["examples"], 8) << e.output;
  // auto: --label-field is kiln eval's; quantize's calibration reads the task's default field
  // names, so the sample is rewritten with a "label" field.
  std::ifstream in2(path("few.jsonl"));
  std::ofstream cal(path("cal.jsonl"));
  while (std::getline(in2, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    j["label"] = j["dx"];
    cal << j.dump() << "\n";
  }
  cal.close();
  const auto a =
      run_kiln("quantize -m " + float_model() + " -o " + path("auto.kiln") +
               " --scheme auto --max-drop 0.5 --metric loss --calibration " + path("cal.jsonl") +
               " --image-field image_path --image-dir " + kShared +
               "/data/ham10000 --skip 'features.denseblock*'");  // 2 candidates: 8 evaluations
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_TRUE(contains(a.output, "auto: alone")) << a.output;
  const nn::ModelFile mf = nn::read_model_file(path("auto.kiln"));
  EXPECT_EQ(mf.quantization.at("features.transition2.conv.weight").reason.rfind("auto:", 0), 0u);
  // --gptq on the same images: every convolution's receptive fields weigh its rounding.
  const std::string images = " --image-field image_path --image-dir " + kShared + "/data/ham10000";
  const auto g = run_kiln("quantize -m " + float_model() + " -o " + path("gptq.kiln") +
                          " --scheme q4_0 --gptq --calibration " + path("cal.jsonl") + images);
  ASSERT_EQ(g.exit_code, 0) << g.output;
  ASSERT_EQ(
      run_kiln("quantize -m " + float_model() + " -o " + path("plain.kiln") + " --scheme q4_0")
          .exit_code,
      0);
  const nn::ModelFile gf = nn::read_model_file(path("gptq.kiln")),
                      pf = nn::read_model_file(path("plain.kiln"));
  for (const char* name :
       {"features.transition2.conv.weight", "features.denseblock1.denselayer1.conv2.weight"}) {
    EXPECT_TRUE(contains(gf.quantization.at(name).reason, "GPTQ on ")) << name;
    EXPECT_NE(gf.tensors.at(name).to_vector(), pf.tensors.at(name).to_vector()) << name;
  }
  const auto ge = run_kiln("eval -m " + path("gptq.kiln") + " --task image-classification -i " +
                               path("few.jsonl") + data,
                           false);
  EXPECT_EQ(ge.exit_code, 0) << ge.output;
  // A task flag outside auto and --gptq is refused.
  const auto bad = run_kiln("quantize -m " + float_model() + " -o " + path("x.kiln") +
                            " --image-field image_path");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "--image-field applies to --scheme auto")) << bad.output;
}

// The fusion model: its DenseNet branch's convs and the metadata MLP quantized; forward runs.
TEST(QuantizeCli, FusionRunsOnQuantizedConvs) {
  const std::string src = kRefs + "fusion-tiny";
  if (!fs::exists(src)) GTEST_SKIP() << "fixture fusion-tiny not present";
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + src + " -o " + (tmp / "f.kiln")).exit_code, 0);
  const auto q =
      run_kiln("quantize -m " + (tmp / "f.kiln") + " -o " + (tmp / "q.kiln") + " --no-speed-check");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  EXPECT_TRUE(contains(q.output, "image.features.denseblock1.denselayer1.conv1.weight"))
      << q.output;
  const nn::StateDict ref = nn::load_safetensors(src + "/reference.safetensors");
  nn::save_safetensors(tmp / "in.safetensors", {{"pixel_values", ref.at("input_image")},
                                                {"metadata", ref.at("input_meta")}});
  auto logits = [&](const std::string& m) {
    const auto r = run_kiln("forward -m " + m + " -i " + (tmp / "in.safetensors") + " -o " +
                            (tmp / "o.safetensors"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? nn::load_safetensors(tmp / "o.safetensors").at("logits") : Tensor();
  };
  const Tensor want = logits(tmp / "f.kiln"), got = logits(tmp / "q.kiln");
  ASSERT_TRUE(want.defined() && got.defined());
  const double err = max_diff_over_max(got, want);
  std::cout << "fusion-tiny int8: logits max error / max logit " << err << "\n";
  EXPECT_LE(err, 0.03);
  EXPECT_EQ(argmax_rows(got), argmax_rows(want));
}

}  // namespace
}  // namespace kiln::testing
