#include "tools/model_loading.h"

#include <algorithm>

#include "core/error.h"
#include "core/storage.h"
#include "nn/empty_init.h"
#include "nn/model_file.h"
#include "tools/command.h"
#include "train/predictors.h"

namespace kiln::cli {

namespace {

// "token-classification" -> "token classification", as people write it in a sentence.
std::string spoken(const std::string& task) {
  if (task.empty()) return "no task (it has no task head)";
  std::string s = task;
  std::replace(s.begin(), s.end(), '-', ' ');
  return s;
}

}  // namespace

LoadedModel load_model(const std::string& path, const LoadOptions& options) {
  // Checks the tensor data's checksum and the config against the tensors before anything is built.
  nn::ModelFile mf = nn::read_model_file(path, options.verify);
  const nn::ModelFamily& family = nn::family_by_name(mf.family, path);
  const std::string origin = path + " (kiln.config)";
  LoadedModel m;
  m.path = path;
  m.spec = family.parse_config(mf.config, origin);
  if (!options.task.empty() && m.spec.task != options.task) {
    const std::string what = m.spec.architecture.empty() ? m.spec.model_type : m.spec.architecture;
    throw Error(path + ": this model is a " + what + ", made for " + spoken(m.spec.task) + "; " +
                (options.command.empty() ? "this command" : options.command) + " needs " +
                spoken(options.task));
  }
  if (!mf.tokenizer_json.empty()) {
    m.tokenizer = tok::Tokenizer::from_json_string(mf.tokenizer_json);
    // The commands build and pad their own sequences, as transformers' tokenizer calls do: a
    // tokenizer.json's own padding/truncation (sentence-transformers ship Fixed 128) must not
    // pad every word of tagging input to 128 tokens.
    m.tokenizer->set_padding(std::nullopt);
    m.tokenizer->set_truncation(std::nullopt);
    check_tokenizer_fits(*m.tokenizer, m.spec, path);
  } else {
    KILN_CHECK(!options.need_tokenizer, path,
               ": the model file has no tokenizer (it was converted with --no-tokenizer)");
  }
  if (auto it = mf.extra_metadata.find(nn::kWordSplitterKey); it != mf.extra_metadata.end()) {
    try {
      m.word_splitter = tok::parse_word_splitter(it->second);
    } catch (const Error& e) {
      throw Error(path + ": metadata '" + nn::kWordSplitterKey + "': " + e.what());
    }
  }
  if (auto it = mf.extra_metadata.find(nn::kGenerationConfigKey); it != mf.extra_metadata.end()) {
    try {
      m.generation_config = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": metadata '" + nn::kGenerationConfigKey + "' is not valid JSON (" +
                  e.what() + ")");
    }
  }
  {
    // Every parameter comes from the file: build without allocating them (nn/empty_init.h), so
    // loading costs the file's pages, not also a model of zeros that the file then replaces.
    nn::EmptyInit empty;
    m.model = family.build(mf.config, origin);
  }
  nn::load_model_file_tensors(*m.model, mf, path);
  m.config = std::move(mf.config);
  m.model->eval();
  if (options.pack_for_inference) {
    // Inference runs no-grad forwards only: pack the weights for the GEMM once (same bits,
    // faster) and free the row-major copies so that packing costs no memory.
    m.model->pack_for_inference(/*release_weights=*/true);
    allocator::release_cached();  // row-major copies made from a bf16/f16 file go back to the OS
  }
  return m;
}

void check_tokenizer_fits(const tok::Tokenizer& tokenizer, const nn::ModelSpec& spec,
                          const std::string& origin) {
  const auto n = static_cast<int64_t>(tokenizer.vocab_size());
  KILN_CHECK(spec.vocab_size <= 0 || n <= spec.vocab_size, origin, ": the tokenizer has ", n,
             " tokens but the model's embedding has only vocab_size = ", spec.vocab_size,
             " rows (config field vocab_size), so token ids from ", spec.vocab_size,
             " up would index past it; use the tokenizer the model was made with, or a config "
             "whose vocab_size is at least ",
             n);
}

std::map<std::string, double> pad_values(const nn::ModelSpec& spec) {
  return {{"input_ids", static_cast<double>(spec.pad_token_id)}};
}

std::unique_ptr<train::Predictor> make_predictor(const LoadedModel& m, const std::string& task,
                                                 const nlohmann::json& options,
                                                 train::TaskSetup& setup) {
  setup.tokenizer = m.tokenizer ? &*m.tokenizer : nullptr;
  setup.spec = m.spec;
  setup.labels = m.spec.labels;
  setup.max_length = m.spec.max_tokens;
  setup.word_splitter = m.word_splitter;
  setup.model_config = m.config;
  try {
    return train::task_by_name(task).predictor(setup, options);
  } catch (const train::PredictorOptionError& e) {
    throw UsageError(e.what());
  }
}

}  // namespace kiln::cli
