#include "nn/densenet_config.h"

#include <map>
#include <sstream>
#include <type_traits>

#include "core/error.h"

namespace kiln::nn {
namespace {

struct Preset {
  int64_t growth;
  std::vector<int64_t> blocks;
  int64_t init;
};

// torchvision.models.densenet{121,161,169,201} (timm's densenet* use the same numbers).
const std::map<std::string, Preset>& presets() {
  static const std::map<std::string, Preset> p = {
      {"densenet121", {32, {6, 12, 24, 16}, 64}},
      {"densenet161", {48, {6, 12, 36, 24}, 96}},
      {"densenet169", {32, {6, 12, 32, 32}, 64}},
      {"densenet201", {32, {6, 12, 48, 32}, 64}},
  };
  return p;
}

const nlohmann::json* member(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::vector<double> numbers(const nlohmann::json& j, const char* name, size_t n,
                            const std::string& origin) {
  const nlohmann::json* v = member(j, name);
  KILN_CHECK(v && v->is_array() && v->size() == n, origin, ": config field '", name,
             "' must be an array of ", n, " numbers");
  std::vector<double> out;
  for (const auto& x : *v) {
    KILN_CHECK(x.is_number(), origin, ": config field '", name, "' must hold numbers");
    out.push_back(x.get<double>());
  }
  return out;
}

ImagePreprocessing read_preprocessing(const nlohmann::json& j, const std::string& origin) {
  ImagePreprocessing p;
  if (const nlohmann::json* pc = member(j, "pretrained_cfg")) {  // timm
    const std::string o = origin + " pretrained_cfg";
    if (member(*pc, "mean")) p.mean = numbers(*pc, "mean", 3, o);
    if (member(*pc, "std")) p.std = numbers(*pc, "std", 3, o);
    if (member(*pc, "input_size")) {
      const auto s = numbers(*pc, "input_size", 3, o);
      p.height = static_cast<int64_t>(s[1]), p.width = static_cast<int64_t>(s[2]);
    }
    if (const nlohmann::json* i = member(*pc, "interpolation"); i && i->is_string())
      p.interpolation = i->get<std::string>();
    p.crop_pct = image_config_number(*pc, "crop_pct", 0.0, o);
  }
  if (const nlohmann::json* n = member(j, "normalize")) {  // torchvision-style
    p.mean = numbers(*n, "mean", 3, origin + " normalize");
    p.std = numbers(*n, "std", 3, origin + " normalize");
  }
  if (member(j, "input_size_hw")) {
    const auto s = numbers(j, "input_size_hw", 2, origin);
    p.height = static_cast<int64_t>(s[0]), p.width = static_cast<int64_t>(s[1]);
  }
  if (const nlohmann::json* k = member(j, "preprocessing")) {  // kiln's own
    const std::string o = origin + " preprocessing";
    p.mean = numbers(*k, "mean", 3, o);
    p.std = numbers(*k, "std", 3, o);
    p.height = image_config_int(*k, "height", p.height, o);
    p.width = image_config_int(*k, "width", p.width, o);
    if (const nlohmann::json* i = member(*k, "interpolation"); i && i->is_string())
      p.interpolation = i->get<std::string>();
    p.crop_pct = image_config_number(*k, "crop_pct", 0.0, o);
  }
  KILN_CHECK(p.height > 0 && p.width > 0 && p.height <= 16384 && p.width <= 16384, origin,
             ": input size ", p.height, "x", p.width, " is out of range");
  for (double s : p.std) KILN_CHECK(s > 0, origin, ": normalisation std must be positive");
  return p;
}

}  // namespace

ImagePreprocessing read_image_preprocessing(const nlohmann::json& j, const std::string& origin) {
  return read_preprocessing(j, origin);
}

namespace {

// j[name] as T (an integer must be written as one: 2.5 is not a layer count), or def if absent.
template <typename T>
T config_scalar(const nlohmann::json& j, const char* name, T def, const std::string& origin) {
  const nlohmann::json* v = member(j, name);
  if (!v) return def;
  const bool ok = std::is_integral_v<T> ? v->is_number_integer() : v->is_number();
  KILN_CHECK(ok, origin, ": config field '", name, "' must be ",
             std::is_integral_v<T> ? "an integer" : "a number", ", got ", v->dump());
  return v->get<T>();
}

}  // namespace

int64_t image_config_int(const nlohmann::json& j, const char* name, int64_t def,
                         const std::string& origin) {
  return config_scalar<int64_t>(j, name, def, origin);
}

double image_config_number(const nlohmann::json& j, const char* name, double def,
                           const std::string& origin) {
  return config_scalar<double>(j, name, def, origin);
}

std::vector<std::string> image_config_strings(const nlohmann::json& j, const char* name,
                                              const std::string& origin) {
  std::vector<std::string> out;
  const nlohmann::json* v = member(j, name);
  if (!v) return out;
  KILN_CHECK(v->is_array(), origin, ": config field '", name, "' must be an array of strings");
  for (const auto& s : *v) {
    KILN_CHECK(s.is_string(), origin, ": config field '", name, "' must hold strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

nlohmann::json ImagePreprocessing::to_json() const {
  return {{"height", height},
          {"width", width},
          {"mean", mean},
          {"std", std},
          {"interpolation", interpolation},
          {"crop_pct", crop_pct}};
}

namespace {

std::string number_list(const std::vector<double>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str() + "]";
}

}  // namespace

std::pair<std::string, std::string> image_input_summary(const ImagePreprocessing& p) {
  std::ostringstream os;
  os << "pixel_values [N, 3, " << p.height << ", " << p.width << "], mean " << number_list(p.mean)
     << ", std " << number_list(p.std) << ", " << p.interpolation;
  if (p.crop_pct > 0) os << ", crop_pct " << p.crop_pct;
  return {"input", os.str()};
}

bool looks_like_densenet_config(const nlohmann::json& j) {
  if (!j.is_object() || j.contains("model_type") || j.contains("metadata_encoding")) return false;
  const nlohmann::json* a = member(j, "architecture");
  if (a && a->is_string()) {
    const std::string s = a->get<std::string>();
    if (s == "torchvision.models.DenseNet" || presets().count(s)) return true;
  }
  return j.contains("growth_rate") && j.contains("block_config");
}

DenseNetConfig DenseNetConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  KILN_CHECK(j.is_object(), origin, ": config must be a JSON object");
  DenseNetConfig c;
  if (const nlohmann::json* a = member(j, "architecture"); a && a->is_string()) {
    const std::string arch = a->get<std::string>();
    if (const auto it = presets().find(arch); it != presets().end()) {
      c.architecture = arch;
      c.growth_rate = it->second.growth;
      c.block_config = it->second.blocks;
      c.num_init_features = it->second.init;
    } else {
      KILN_CHECK(arch == "torchvision.models.DenseNet" || arch == "DenseNet", origin,
                 ": architecture '", arch,
                 "' is not a DenseNet kiln builds (densenet121, densenet161, densenet169, "
                 "densenet201, or explicit fields with torchvision.models.DenseNet)");
    }
  }
  if (const nlohmann::json* st = member(j, "stem")) {
    KILN_CHECK(st->is_string() && (*st == "imagenet" || *st == "small"), origin,
               ": config field 'stem' is ", st->dump(),
               "; it must be \"imagenet\" (torchvision's 7x7/2 conv + max pool) or \"small\" "
               "(one 3x3 conv, stride 1)");
    c.stem = st->get<std::string>();
  }
  c.growth_rate = image_config_int(j, "growth_rate", c.growth_rate, origin);
  if (const nlohmann::json* b = member(j, "block_config")) {
    KILN_CHECK(b->is_array() && !b->empty(), origin,
               ": config field 'block_config' must be a non-empty array of layer counts");
    c.block_config.clear();
    for (const auto& n : *b) {
      KILN_CHECK(n.is_number_integer() && n.get<int64_t>() > 0 && n.get<int64_t>() <= 1000, origin,
                 ": config field 'block_config' must hold layer counts in [1, 1000]");
      c.block_config.push_back(n.get<int64_t>());
    }
  }
  c.num_init_features = image_config_int(j, "num_init_features", c.num_init_features, origin);
  c.bn_size = image_config_int(j, "bn_size", c.bn_size, origin);
  c.num_classes = image_config_int(j, "num_classes", c.num_classes, origin);
  c.drop_rate = image_config_number(j, "drop_rate", 0.0, origin);
  c.bn_eps = image_config_number(j, "bn_eps", 1e-5, origin);
  c.bn_momentum = image_config_number(j, "bn_momentum", 0.1, origin);
  for (auto [name, v] : {std::pair{"growth_rate", c.growth_rate},
                         {"num_init_features", c.num_init_features},
                         {"bn_size", c.bn_size},
                         {"num_classes", c.num_classes}})
    KILN_CHECK(v > 0 && v <= 100000, origin, ": config field '", name, "' is ", v,
               "; it must be in [1, 100000]");
  KILN_CHECK(c.drop_rate >= 0 && c.drop_rate < 1, origin, ": config field 'drop_rate' is ",
             c.drop_rate, "; it must be in [0, 1)");
  KILN_CHECK(c.bn_eps > 0 && c.bn_momentum >= 0 && c.bn_momentum <= 1, origin,
             ": bn_eps must be positive and bn_momentum in [0, 1]");
  c.labels = image_config_strings(j, "class_names", origin);
  if (c.labels.empty()) c.labels = image_config_strings(j, "label_names", origin);  // timm
  if (c.labels.empty())
    for (int64_t i = 0; i < c.num_classes; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
  KILN_CHECK(static_cast<int64_t>(c.labels.size()) == c.num_classes, origin, ": ", c.labels.size(),
             " class names for num_classes ", c.num_classes);
  c.preprocessing = read_preprocessing(j, origin);
  return c;
}

nlohmann::json DenseNetConfig::to_json() const {
  return {{"model_type", "densenet"},
          {"architecture", architecture},
          {"stem", stem},
          {"growth_rate", growth_rate},
          {"block_config", block_config},
          {"num_init_features", num_init_features},
          {"bn_size", bn_size},
          {"drop_rate", drop_rate},
          {"num_classes", num_classes},
          {"bn_eps", bn_eps},
          {"bn_momentum", bn_momentum},
          {"class_names", labels},
          {"preprocessing", preprocessing.to_json()}};
}

int64_t DenseNetConfig::feature_channels() const {
  int64_t c = num_init_features;
  for (size_t b = 0; b < block_config.size(); ++b) {
    c += block_config[b] * growth_rate;
    if (b + 1 < block_config.size()) c /= 2;
  }
  return c;
}

int64_t DenseNetConfig::parameter_count() const {
  const int64_t inner = bn_size * growth_rate;
  // conv0 (7x7 + norm0's weight and bias, or 3x3 alone).
  int64_t n =
      small_stem() ? 3 * num_init_features * 9 : 3 * num_init_features * 49 + 2 * num_init_features;
  int64_t c = num_init_features;
  for (size_t b = 0; b < block_config.size(); ++b) {
    for (int64_t l = 0; l < block_config[b]; ++l, c += growth_rate)
      n += 2 * c + c * inner + 2 * inner + inner * growth_rate * 9;
    if (b + 1 < block_config.size()) n += 2 * c + c * (c / 2), c /= 2;
  }
  return n + 2 * c + c * num_classes + num_classes;
}

std::string DenseNetConfig::describe() const {
  std::ostringstream os;
  os << "growth " << growth_rate << ", blocks [";
  for (size_t i = 0; i < block_config.size(); ++i) os << (i ? ", " : "") << block_config[i];
  os << "], init features " << num_init_features << ", bn_size " << bn_size << ", "
     << feature_channels() << " features, " << num_classes << " classes";
  if (small_stem()) os << ", small stem (3x3 conv, stride 1)";
  return os.str();
}

}  // namespace kiln::nn
