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
#include "train/task.h"

namespace kiln::cli {

struct LoadedModel {
  std::string path;
  nlohmann::json config;  // the Hugging Face config.json stored in the file
  nn::ModelSpec spec;
  std::unique_ptr<nn::Model> model;
  std::optional<tok::Tokenizer> tokenizer;  // set when the file has one
};

struct LoadOptions {
  // The task the model's head must serve ("token-classification"); empty accepts any model.
  std::string task;
  // The command that needs `task`, for the error message ("kiln tag").
  std::string command;
  bool need_tokenizer = false;
  // Eval mode with the weights packed for no-grad forwards (same bits, faster; the row-major
  // copies are released). Off: the model keeps plain weights and can be switched to train mode.
  bool pack_for_inference = true;
};

// read_model_file -> family_by_name -> parse_config -> task check -> tokenizer -> build ->
// load_state_dict (not strict: buffers such as position_ids may be absent) -> eval [-> pack].
// Errors name the file; a task mismatch names the model's architecture and the task needed.
LoadedModel load_model(const std::string& path, const LoadOptions& options);

// The predictor of `task` for a loaded model (its tokenizer, spec and labels, inputs up to the
// model's full length). A command option the predictor refuses (e.g. a stride wider than the
// model's window) is a UsageError.
std::unique_ptr<train::Predictor> make_predictor(const LoadedModel& m, const std::string& task,
                                                 const nlohmann::json& options,
                                                 train::TaskSetup& setup);

// Pad values for nn::InferenceOptions: input_ids pad with the model's pad token, everything else
// (attention_mask, token_type_ids) with 0.
std::map<std::string, double> pad_values(const nn::ModelSpec& spec);

}  // namespace kiln::cli
