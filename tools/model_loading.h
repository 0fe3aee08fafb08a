// Loads a kiln model file for inference through the model-family registry, so that commands
// (tag, classify, forward) run any registered family without naming one.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "nn/family.h"
#include "nn/model.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/word_splitter.h"
#include "train/task.h"

namespace kiln::cli {

struct LoadedModel {
  std::string path;
  nlohmann::json config;  // the Hugging Face config.json stored in the file
  // The checkpoint's generation_config.json (kiln.generation_config); null when it had none.
  nlohmann::json generation_config;
  nn::ModelSpec spec;
  std::unique_ptr<nn::Model> model;
  std::optional<tok::Tokenizer> tokenizer;  // set when the file has one
  // The splitter of the training data's words (kiln.word_splitter; Tokenizer when absent).
  tok::WordSplitter word_splitter = tok::WordSplitter::Tokenizer;
};

// --no-verify, on every command that loads a model file or a checkpoint.
inline constexpr const char* kNoVerifyHelp =
    "skip the check of the file's tensor data against its recorded sha256 (kiln.data_sha256): "
    "faster loading of large models, but a corrupted file is not caught";

struct LoadOptions {
  // The task the model's head must serve ("token-classification"); empty accepts any model.
  std::string task;
  // The command that needs `task`, for the error message ("kiln tag").
  std::string command;
  bool need_tokenizer = false;
  // Eval mode with the weights packed for no-grad forwards (same bits, faster; the row-major
  // copies are released). Off: the model keeps plain weights and can be switched to train mode.
  bool pack_for_inference = true;
  // Check the tensor data against the file's kiln.data_sha256 (--no-verify turns it off).
  bool verify = true;
};

// read_model_file -> family_by_name -> parse_config -> task check -> tokenizer -> build without
// allocating the parameters (nn::EmptyInit) -> load_state_dict (not strict: buffers with a default,
// such as position_ids, may be absent) -> no placeholder left (nn::check_no_placeholders) -> eval
// [-> pack].
// Errors name the file; a task mismatch names the model's architecture and the task needed.
LoadedModel load_model(const std::string& path, const LoadOptions& options);

// The predictor of `task` for a loaded model (its tokenizer, spec, labels and word splitter,
// inputs up to the model's full length). A command option the predictor refuses (e.g. a stride
// wider than the model's window) is a UsageError.
std::unique_ptr<train::Predictor> make_predictor(const LoadedModel& m, const std::string& task,
                                                 const nlohmann::json& options,
                                                 train::TaskSetup& setup);

// Refuses a tokenizer that can produce ids past the model's token embedding (spec.vocab_size
// rows), before any text is encoded; `origin` names the model.
void check_tokenizer_fits(const tok::Tokenizer& tokenizer, const nn::ModelSpec& spec,
                          const std::string& origin);

// Pad values for nn::InferenceOptions: input_ids pad with the model's pad token, everything else
// (attention_mask, token_type_ids) with 0.
std::map<std::string, double> pad_values(const nn::ModelSpec& spec);

}  // namespace kiln::cli
