// DenseNet's configuration, read from any of the config.json styles `kiln convert` accepts:
//   - torchvision-style: the DenseNet constructor arguments (growth_rate, block_config,
//     num_init_features, bn_size, drop_rate, num_classes) plus input_size_hw, class_names,
//     normalize {mean, std}, bn_eps, bn_momentum (../shared/refs/models/densenet-tiny);
//   - timm-style: "architecture": "densenet121" (or 169/201/161), num_classes, label_names, and
//     pretrained_cfg {mean, std, input_size [3, H, W], interpolation, crop_pct};
//   - kiln's own (what convert stores): model_type "densenet" and every field explicit.
// Explicit fields override a named preset's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace kiln::nn {

// How a raw image becomes pixel_values, for `classify` (forward takes them preprocessed).
struct ImagePreprocessing {
  int64_t height = 224, width = 224;
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
  std::string interpolation = "bilinear";
  double crop_pct = 0.0;  // 0: resize straight to height x width (no centre crop)
  nlohmann::json to_json() const;
};

// The preprocessing fields of any of the three styles (missing ones keep ImageNet's defaults).
ImagePreprocessing read_image_preprocessing(const nlohmann::json& j, const std::string& origin);

// `kiln inspect`'s line about an image model's input: {"input", "pixel_values [N, 3, H, W], ..."}.
std::pair<std::string, std::string> image_input_summary(const ImagePreprocessing& p);

struct DenseNetConfig {
  std::string architecture = "DenseNet";  // a preset name (densenet121...) or "DenseNet"
  // The layers before the first dense block (config field "stem"):
  //   "imagenet" (default): torchvision's conv0 7x7 stride 2 + norm0 + relu0 + pool0 3x3 stride 2,
  //     so block 1 sees a quarter of the input's side;
  //   "small": the DenseNet paper's CIFAR/SVHN stem, one 3x3 conv0 (stride 1, padding 1, no
  //     bias) and nothing else, so block 1 sees the full input (28x28 Fashion-MNIST, 32x32 CIFAR).
  std::string stem = "imagenet";
  int64_t growth_rate = 32;
  std::vector<int64_t> block_config{6, 12, 24, 16};
  int64_t num_init_features = 64;
  int64_t bn_size = 4;
  double drop_rate = 0.0;
  int64_t num_classes = 1000;
  double bn_eps = 1e-5, bn_momentum = 0.1;
  std::vector<std::string> labels;  // class names; LABEL_i when the config names none
  ImagePreprocessing preprocessing;

  // Errors name `origin` and the field.
  static DenseNetConfig from_json(const nlohmann::json& j, const std::string& origin);
  // kiln's explicit form (model_type "densenet"), read back by from_json.
  nlohmann::json to_json() const;
  // Channels after the last dense block (the classifier's input).
  int64_t feature_channels() const;
  bool small_stem() const { return stem == "small"; }
  int64_t parameter_count() const;
  std::string describe() const;  // "growth 32, blocks [6, 12, 24, 16], ..."
};

// True for torchvision-style and timm-style DenseNet configs (no model_type).
bool looks_like_densenet_config(const nlohmann::json& j);

// Reading helpers shared by the image families: `j[name]` as T, or `def` when absent; a present
// value of the wrong type is an error naming `origin` and the field.
int64_t image_config_int(const nlohmann::json& j, const char* name, int64_t def,
                         const std::string& origin);
double image_config_number(const nlohmann::json& j, const char* name, double def,
                           const std::string& origin);
std::vector<std::string> image_config_strings(const nlohmann::json& j, const char* name,
                                              const std::string& origin);

}  // namespace kiln::nn
