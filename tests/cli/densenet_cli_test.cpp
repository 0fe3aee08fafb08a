// kiln convert / inspect / forward on the DenseNet and fusion fixtures (torchvision-style configs
// without model_type): forward gives torchvision's eval and train-mode logits from pixel_values
// (and metadata), inspect describes the model and its preprocessing, a checkpoint with
// torchvision's legacy "norm.1" names converts, and a .pth pickle is refused with advice.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

struct Fixture {
  const char* dir;
  std::map<std::string, std::string> inputs;  // forward input -> reference tensor
};
const Fixture kFixtures[] = {
    {"densenet-tiny", {{"pixel_values", "input"}}},
    {"fusion-tiny", {{"pixel_values", "input_image"}, {"metadata", "input_meta"}}},
};

TEST(DenseNetCli, ForwardMatchesTorchvisionInEvalAndTrainMode) {
  for (const auto& f : kFixtures) {
    if (!fs::exists(kRefs + f.dir)) GTEST_SKIP() << "fixtures not present";
    SCOPED_TRACE(f.dir);
    TempDir tmp;
    auto conv = run_kiln("convert " + kRefs + f.dir + " -o " + (tmp / "m.kiln"));
    ASSERT_EQ(conv.exit_code, 0) << conv.output;
    const nn::StateDict ref = nn::load_safetensors(kRefs + f.dir + "/reference.safetensors");
    nn::StateDict in;
    for (const auto& [name, key] : f.inputs) in[name] = ref.at(key);
    nn::save_safetensors(tmp / "in.safetensors", in);
    for (const std::string mode : {"eval", "train"}) {
      auto r =
          run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors") + " -o " +
                   (tmp / "out.safetensors") + (mode == "train" ? " --train-mode" : ""));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const nn::StateDict out = nn::load_safetensors(tmp / "out.safetensors");
      EXPECT_LE(max_abs_diff(out.at("logits"), ref.at("logits_" + mode)), 1e-4) << mode;
    }
    auto missing = run_kiln("forward -m " + (tmp / "m.kiln") + " -i " + (tmp / "in.safetensors") +
                            " -o " + (tmp / "o.safetensors") + " --outputs nope");
    EXPECT_NE(missing.exit_code, 0);
  }
}

TEST(DenseNetCli, InspectDescribesArchitectureInputAndMetadata) {
  if (!fs::exists(kRefs + "fusion-tiny")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + kRefs + "fusion-tiny -o " + (tmp / "f.kiln")).exit_code, 0);
  const auto r = run_kiln("inspect " + (tmp / "f.kiln"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* want : {"densenet-fusion", "growth 8, blocks [2, 2, 2]",
                           "pixel_values [N, 3, 64, 64]", "metadata [N, 20]", "0=akiec"})
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
}

// A copy of densenet-tiny's checkpoint with the state-dict names torchvision's ImageNet .pth
// files use ("denselayer1.norm.1.weight").
TEST(DenseNetCli, ConvertsLegacyNamesAndRefusesPickles) {
  if (!fs::exists(kRefs + "densenet-tiny")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string src = kRefs + "densenet-tiny";
  fs::create_directory(tmp / "legacy");
  fs::copy_file(src + "/config.json", tmp / "legacy/config.json");
  nn::StateDict legacy;
  const std::regex current(R"((denselayer\d+\.)(norm|conv)([12])\.)");
  for (const auto& [name, t] : nn::load_safetensors(src + "/model.safetensors"))
    legacy[std::regex_replace(name, current, "$1$2.$3.")] = t;
  ASSERT_TRUE(legacy.count("features.denseblock1.denselayer1.norm.1.weight"));
  nn::save_safetensors(tmp / "legacy/model.safetensors", legacy);
  const auto ok = run_kiln("convert " + (tmp / "legacy") + " -o " + (tmp / "l.kiln"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  fs::create_directory(tmp / "pth");
  fs::copy_file(src + "/config.json", tmp / "pth/config.json");
  std::ofstream(tmp / "pth/densenet121.pth") << "not really a pickle";
  const auto refused = run_kiln("convert " + (tmp / "pth") + " -o " + (tmp / "p.kiln"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("densenet121.pth is a PyTorch pickle"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("save_file"), std::string::npos) << refused.output;
}

}  // namespace
}  // namespace kiln::testing
