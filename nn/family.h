// Model families register themselves (KILN_MODEL_FAMILY) so that convert, inspect, forward, tag,
// classify and train find a family through this registry instead of naming one. A family knows
// which Hugging Face model_type values and architectures it accepts, how to parse and validate a
// config.json (errors name the file and the field), how to build the model and which task heads
// it has, how to describe itself for `kiln inspect`, and its input limits and tokenizer
// conventions (ModelSpec).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "nn/model.h"

namespace kiln::nn {

// What a validated config says about its model, for the commands that do not build it.
struct ModelSpec {
  std::string family;        // kiln family name (stored as kiln.family)
  std::string model_type;    // Hugging Face model_type
  std::string architecture;  // architectures[0], empty when the config names none
  std::string task;          // the task its head serves ("token-classification", ...); "" = none
  std::vector<std::string> labels;  // id -> label, for classification heads
  // Token models: the longest input in tokens (positions minus any offset); 0 for others.
  int64_t max_tokens = 0;
  int64_t pad_token_id = 0;
  // Pre-split words are encoded as " word" (byte-level BPE, as Hugging Face's
  // is_split_into_words with add_prefix_space does).
  bool word_prefix_space = false;
  // Forward arguments the model accepts, Hugging Face's names.
  std::vector<std::string> input_names;
  // `kiln inspect` lines after family: {"architecture", "..."}, {"size", "..."}.
  std::vector<std::pair<std::string, std::string>> summary;
};

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> model_types() const = 0;
  virtual std::vector<std::string> architectures() const = 0;
  // Task names whose heads this family can build.
  virtual std::vector<std::string> tasks() const = 0;
  // Parses and validates a Hugging Face config.json; errors name `origin` and the field.
  virtual ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const = 0;
  // A model with the architecture the config names, parameters allocated but not initialised.
  virtual std::unique_ptr<Model> build(const nlohmann::json& config,
                                       const std::string& origin) const = 0;
  // `config` turned into the config of a model with a fresh `task` head over `labels`
  // (architectures, id2label, label2id), as transformers writes them.
  virtual nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                          const std::vector<std::string>& labels) const = 0;
};

void register_model_family(std::shared_ptr<const ModelFamily> family);
std::vector<std::shared_ptr<const ModelFamily>> model_families();
// By kiln family name (kiln.family in a model file); the error names `origin` and lists families.
const ModelFamily& family_by_name(const std::string& name, const std::string& origin);
// By the config's model_type; the error names `origin` and lists every supported model_type.
const ModelFamily& family_for_config(const nlohmann::json& config, const std::string& origin);

template <typename F>
struct ModelFamilyRegistrar {
  ModelFamilyRegistrar() { register_model_family(std::make_shared<F>()); }
};

}  // namespace kiln::nn

#define KILN_FAMILY_CONCAT2(a, b) a##b
#define KILN_FAMILY_CONCAT(a, b) KILN_FAMILY_CONCAT2(a, b)
#define KILN_MODEL_FAMILY(Type) \
  static ::kiln::nn::ModelFamilyRegistrar<Type> KILN_FAMILY_CONCAT(kiln_family_reg_, __LINE__)
