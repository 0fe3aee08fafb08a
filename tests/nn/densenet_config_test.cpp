// DenseNet configs in the styles `kiln convert` reads: timm-style presets give torchvision's
// parameter counts (densenet121/161/169/201) and the pretrained_cfg preprocessing, explicit fields
// override a preset, kiln's stored form reads back to the same config, and bad fields are refused
// naming the field. The family registry recognises both reference configs without a model_type.
#include <gtest/gtest.h>

#include "nn/densenet.h"
#include "nn/family.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

TEST(DenseNetConfig, TimmPresetsHaveTorchvisionParameterCounts) {
  // torchvision.models.densenet*(num_classes=1000): sum of p.numel() for p in parameters().
  const std::pair<const char*, int64_t> presets[] = {{"densenet121", 7978856},
                                                     {"densenet161", 28681000},
                                                     {"densenet169", 14149480},
                                                     {"densenet201", 20013928}};
  for (const auto& [arch, count] : presets) {
    const auto c = DenseNetConfig::from_json({{"architecture", arch}, {"num_classes", 1000}}, "x");
    EXPECT_EQ(c.parameter_count(), count) << arch;
  }
  const auto c = DenseNetConfig::from_json({{"architecture", "densenet121"}}, "x");
  EXPECT_EQ(DenseNet(c).parameter_count(), 7978856);
  EXPECT_EQ(c.feature_channels(), 1024);
}

TEST(DenseNetConfig, ReadsTimmPretrainedCfgAndOverrides) {
  const nlohmann::json j = {{"architecture", "densenet121"},
                            {"num_classes", 7},
                            {"growth_rate", 16},
                            {"label_names", {"a", "b", "c", "d", "e", "f", "g"}},
                            {"pretrained_cfg",
                             {{"mean", {0.5, 0.5, 0.5}},
                              {"std", {0.25, 0.25, 0.25}},
                              {"input_size", {3, 256, 240}},
                              {"interpolation", "bicubic"},
                              {"crop_pct", 0.875}}}};
  const auto c = DenseNetConfig::from_json(j, "x");
  EXPECT_EQ(c.growth_rate, 16);
  EXPECT_EQ(c.block_config, (std::vector<int64_t>{6, 12, 24, 16}));
  EXPECT_EQ(c.labels[6], "g");
  EXPECT_EQ(c.preprocessing.height, 256);
  EXPECT_EQ(c.preprocessing.width, 240);
  EXPECT_EQ(c.preprocessing.interpolation, "bicubic");
  EXPECT_EQ(c.preprocessing.crop_pct, 0.875);
  EXPECT_EQ(c.preprocessing.mean[0], 0.5);
  const auto back = DenseNetConfig::from_json(c.to_json(), "stored");
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(DenseNetConfig, RefusesBadFieldsNamingThem) {
  auto msg = [](const nlohmann::json& j) {
    return testing::message_of([&] { DenseNetConfig::from_json(j, "cfg.json"); });
  };
  EXPECT_NE(msg({{"architecture", "resnet50"}}).find("resnet50"), std::string::npos);
  EXPECT_NE(msg({{"growth_rate", 2.5}}).find("growth_rate"), std::string::npos);
  EXPECT_NE(msg({{"block_config", {2, 0}}}).find("block_config"), std::string::npos);
  EXPECT_NE(msg({{"num_classes", 3}, {"class_names", {"a"}}}).find("class names"),
            std::string::npos);
}

TEST(DenseNetConfig, FamiliesRecogniseTheReferenceConfigs) {
  const std::string refs = std::string(KILN_SHARED_DIR) + "/refs/models/";
  const auto dense = testing::read_json(refs + "densenet-tiny/config.json");
  const auto fusion = testing::read_json(refs + "fusion-tiny/config.json");
  EXPECT_EQ(family_for_config(dense, "d").name(), "densenet");
  EXPECT_EQ(family_for_config(fusion, "f").name(), "densenet-fusion");
  EXPECT_EQ(family_for_config({{"architecture", "densenet201"}}, "t").name(), "densenet");
  // Stored (kiln) forms carry model_type.
  const auto& fam = family_for_config(dense, "d");
  const auto stored = fam.import_checkpoint(dense, {}, "d").config;
  EXPECT_EQ(stored["model_type"], "densenet");
  EXPECT_EQ(&family_for_config(stored, "s"), &fam);
}

}  // namespace
}  // namespace kiln::nn
