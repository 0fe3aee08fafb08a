// Model families register themselves (KILN_MODEL_FAMILY) so that convert, inspect, forward, tag,
// classify and train find a family through this registry instead of naming one. A family knows
// which Hugging Face model_type values and architectures it accepts, how to parse and validate a
// config.json (errors name the file and the field), how to build the model and which task heads
// it has, how to describe itself for `kiln inspect`, and its input limits and tokenizer
// conventions (ModelSpec).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
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
  // The config's special token ids that are set, under Hugging Face's names (bos_token_id,
  // eos_token_id, decoder_start_token_id, forced_bos_token_id, ...), for generation.
  std::map<std::string, int64_t> special_token_ids;
  // Rows of the token embedding: a tokenizer with more ids than this does not fit the model.
  // 0: the family does not say.
  int64_t vocab_size = 0;
};

// Weights re-expressed for another model of the same family (a checkpoint's bare encoder).
struct ConvertedWeights {
  nlohmann::json config;  // the config of the model the tensors now belong to
  StateDict tensors;      // named as that model's parameters and buffers
  // Checkpoint tensors left out because that model has no use for them (a pre-training head),
  // under their names in the checkpoint, sorted.
  std::vector<std::string> dropped;
};

// A transformer feed-forward block, act(x W_up^T + b_up) W_down^T + b_down, as stored: the up
// projection's weight [F, H] and bias [F] (F neurons), the down projection's weight [H, F], and
// the config field that holds F (every block naming the same field has the same width).
struct FeedForwardBlock {
  std::string up_weight, up_bias, down_weight, width_field;
};

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> model_types() const = 0;
  virtual std::vector<std::string> architectures() const = 0;
  // Task names whose heads this family can build.
  virtual std::vector<std::string> tasks() const = 0;
  // Hugging Face model_type values close to this family that it does not build, each with the
  // reason, so that family_for_config can say why ("mbart": its tokenizer is SentencePiece).
  virtual std::vector<std::pair<std::string, std::string>> refused_model_types() const {
    return {};
  }
  // A config without a Hugging Face model_type that this family still recognises by its own
  // fields (torchvision- and timm-style image model configs). family_for_config asks every family
  // before it requires model_type.
  virtual bool recognises_config(const nlohmann::json& /*config*/) const { return false; }
  // Parses and validates a Hugging Face config.json; errors name `origin` and the field.
  virtual ModelSpec parse_config(const nlohmann::json& config, const std::string& origin) const = 0;
  // A model with the architecture the config names, parameters allocated but not initialised.
  virtual std::unique_ptr<Model> build(const nlohmann::json& config,
                                       const std::string& origin) const = 0;
  // `config` turned into the config of a model with a fresh `task` head over `labels`
  // (architectures, id2label, label2id), as transformers writes them.
  virtual nlohmann::json config_with_head(const nlohmann::json& config, const std::string& task,
                                          const std::vector<std::string>& labels) const = 0;

  // `kiln convert`: a Hugging Face checkpoint turned into the model kiln stores. The default keeps
  // it as it is (then the config must name an architecture this family builds); a family may keep
  // only the encoder of checkpoints whose head it does not build (masked-LM, pre-training).
  virtual ConvertedWeights import_checkpoint(const nlohmann::json& config, StateDict tensors,
                                             const std::string& /*origin*/) const {
    return {config, std::move(tensors), {}};
  }
  // The bare encoder of a model (its config and tensors, renamed for it) without the task head,
  // whose tensors are dropped, so that a fresh head can replace it (`kiln train --reinit-head`).
  // Only tensors the family knows as head tensors are dropped: anything else is kept, so that a
  // strict load still refuses it. The default: the family cannot separate its head.
  virtual ConvertedWeights without_head(const nlohmann::json& config, StateDict /*tensors*/,
                                        const std::string& origin) const {
    throw Error(origin + ": the " + name() + " family (model_type " +
                config.value("model_type", std::string("?")) + ") cannot replace its task head");
  }
  // The name that tensor `name` of the model `from` describes has in the model `to` describes
  // (e.g. a bare encoder's "embeddings.word_embeddings.weight" is "bert.embeddings..." under a
  // task head). A tensor with no counterpart keeps its name (the caller reports it as dropped).
  // The default: every model of the family uses the same names.
  virtual std::string rename_weight(const nlohmann::json& /*from*/, const nlohmann::json& /*to*/,
                                    const std::string& name) const {
    return name;
  }

  // Size checks that run before build() allocates anything (check_config_against_tensors,
  // check_model_fits_memory below). The parameters (elements) of the model build() makes from
  // `config`, from the config alone; 0 = the family cannot say (the checks are then skipped).
  virtual int64_t parameter_count(const nlohmann::json& /*config*/,
                                  const std::string& /*origin*/) const {
    return 0;
  }
  // Checks that stored tensors agree with `config`: layer count, sizes, vocabulary. Errors name
  // `origin`, the config field and the tensor. Tensors the family does not recognise are left to
  // load_state_dict. The default checks nothing.
  virtual void check_tensors(const nlohmann::json& /*config*/, const StateDict& /*tensors*/,
                             const std::string& /*origin*/) const {}

  // The feed-forward blocks a structured prune may narrow (`kiln prune`, quant/prune.h), under
  // the stored tensor names of the model `config` describes. Empty (the default): none.
  virtual std::vector<FeedForwardBlock> feed_forward_blocks(const nlohmann::json& /*config*/,
                                                            const std::string& /*origin*/) const {
    return {};
  }

  // `batch` random inputs of the size the config names, for timing a forward (kiln quantize's
  // speed check of convolutions, quant/conv_speed_check.h). Empty (the default): the family
  // cannot make them, and its convolutions are not timed.
  virtual NamedTensors example_inputs(const nlohmann::json& /*config*/, int64_t /*batch*/,
                                      Generator& /*gen*/) const {
    return {};
  }
};

// Before build(), for tensors stored with their config (a model file, a checkpoint): the family's
// check_tensors, then the config may not imply more parameters than `tensors` hold, so that
// neither a wrong size nor an absurd one builds a different or a runaway model. Errors name
// `origin`.
void check_config_against_tensors(const ModelFamily& family, const nlohmann::json& config,
                                  const StateDict& tensors, const std::string& origin);
// Before build() of a model with no tensors to compare against (training from a config): refuses
// a config whose parameter_count() times `bytes_per_parameter` exceeds this machine's physical
// memory (training holds weights, gradients and two optimizer moments: 16 bytes in f32).
void check_model_fits_memory(const ModelFamily& family, const nlohmann::json& config,
                             const std::string& origin, int64_t bytes_per_parameter);

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
