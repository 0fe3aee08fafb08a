// kiln convert HF_DIR -o MODEL.kiln [--dtype f32|bf16|f16]
// Builds the model the checkpoint's config.json describes, loads every tensor by name (strictly:
// missing and unexpected names are listed), and writes one kiln model file with the config, the
// tokenizer and provenance in its metadata. Checkpoints with a head kiln does not build (the
// Hub's *ForMaskedLM and *ForPreTraining) keep their encoder, stored as the bare *Model; the
// dropped head tensors are named on stderr and in the provenance, and `kiln train --task` adds
// a fresh head.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/ops.h"
#include "core/sha256.h"
#include "core/version.h"
#include "nn/empty_init.h"
#include "nn/family.h"
#include "nn/hf_checkpoint.h"
#include "nn/model_file.h"
#include "tokenizer/tokenizer.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"
#include "tools/threads.h"

namespace kiln::cli {
namespace {

int run_convert(const std::vector<std::string>& args) {
  ArgParser p("convert", "HF_DIR -o MODEL.kiln [options]");
  p.positional("HF_DIR",
               "Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer files)")
      .option("output",
              "where to write the kiln model file (replaced atomically; through a symlink, the "
              "file it points to)",
              "-o")
      .option("dtype", "storage dtype of floating-point weights: f32, bf16 or f16", "", "f32")
      .flag("no-tokenizer", "convert without a tokenizer (tag/classify will then refuse the model)")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const std::string dir = p.get("HF_DIR"), out = p.get("output");
  const std::string dtype_name = p.get("dtype");
  const auto dtype = parse_dtype(dtype_name);
  if (!dtype || (*dtype != DType::F32 && *dtype != DType::BF16 && *dtype != DType::F16))
    throw UsageError("--dtype must be f32, bf16 or f16, got '" + dtype_name + "'");
  apply_threads_flag(p);

  if (std::filesystem::is_regular_file(dir)) {
    // A kiln model file: re-store it in another dtype (e.g. a trained f32 model as bf16).
    nn::ModelFile mf = nn::read_model_file(dir, !p.get_flag("no-verify"));
    for (auto& [name, t] : mf.tensors)
      if (is_floating(t.dtype())) t = t.to(*dtype);
    mf.provenance["converted_from"] = {{"file", dir}, {"sha256", sha256_file(dir)}};
    mf.provenance["storage_dtype"] = dtype_name;
    nn::write_model_file(out, mf);
    std::cerr << "kiln convert: " << dir << " -> " << out << " (" << dtype_name << ")\n";
    return 0;
  }
  nn::HfCheckpoint ck = nn::read_hf_checkpoint(dir);
  const std::string origin = dir + "/config.json";
  const nn::ModelFamily& family = nn::family_for_config(ck.config, origin);
  std::string source_architecture;
  if (ck.config.contains("architectures") && ck.config["architectures"].is_array() &&
      !ck.config["architectures"].empty() && ck.config["architectures"][0].is_string())
    source_architecture = ck.config["architectures"][0].get<std::string>();
  // The family decides what kiln keeps: a pre-training checkpoint becomes its bare encoder.
  nn::ConvertedWeights kept = family.import_checkpoint(ck.config, std::move(ck.tensors), origin);
  const nn::ModelSpec spec = family.parse_config(kept.config, origin);
  // Sizes against the stored shapes before anything is built (a wrong or absurd config).
  nn::check_config_against_tensors(family, kept.config, kept.tensors, origin);
  // Every parameter comes from the checkpoint: none is allocated first (nn/empty_init.h).
  const std::unique_ptr<nn::Model> model = [&] {
    nn::EmptyInit empty;
    return family.build(kept.config, origin);
  }();
  // Strict: a tensor the family does not know as a head tensor is still an error.
  model->load_state_dict(kept.tensors, /*strict=*/true, dir);
  // A buffer the checkpoint lacks and that has no default (batch norm's running statistics)
  // must not be written to the kiln file as a placeholder.
  nn::check_no_placeholders(*model, dir);
  if (!kept.dropped.empty()) {
    std::string names;
    for (const auto& n : kept.dropped) names += (names.empty() ? "" : ", ") + n;
    std::cerr << "kiln convert: dropped " << kept.dropped.size() << " tensors of the "
              << source_architecture << " head that " << spec.architecture
              << " does not use: " << names << "\n";
  }

  nn::ModelFile mf;
  mf.family = family.name();
  mf.config = kept.config;
  // Buffers too: some hold weights (BART's final_logits_bias), not only defaults. Tied aliases
  // are not repeated (state_dict lists each tensor once, under its canonical name).
  for (auto& [name, t] : model->state_dict())
    mf.tensors[name] = is_floating(t.dtype()) ? t.to(*dtype) : t;
  // Image models (pixel_values in, no input_ids) have no tokenizer to keep.
  const bool takes_tokens = std::find(spec.input_names.begin(), spec.input_names.end(),
                                      "input_ids") != spec.input_names.end();
  if (takes_tokens && !p.get_flag("no-tokenizer")) {
    try {
      mf.tokenizer_json = tok::Tokenizer::from_path(dir).to_json_string();
    } catch (const Error& e) {
      throw Error(
          std::string(e.what()) +
          "\n(no usable tokenizer in the checkpoint; pass --no-tokenizer to convert anyway)");
    }
  }
  // generate()'s defaults when the checkpoint has them (forced BOS/EOS, beams, lengths...).
  if (!ck.generation_config.is_null())
    mf.extra_metadata[nn::kGenerationConfigKey] = ck.generation_config.dump();
  mf.provenance = {{"source", std::filesystem::absolute(dir).lexically_normal().string()},
                   {"files", ck.file_sha256},
                   {"kiln_version", kVersion},
                   {"storage_dtype", dtype_name},
                   {"architecture", spec.architecture}};
  if (source_architecture != spec.architecture) {
    mf.provenance["source_architecture"] = source_architecture;
    mf.provenance["dropped_tensors"] = kept.dropped;
  }
  nn::write_model_file(out, mf);
  std::cerr << "kiln convert: " << spec.architecture << " (" << model->parameter_count()
            << " parameters, " << dtype_name << ") -> " << out << "\n";
  return 0;
}

KILN_COMMAND("convert", "convert a Hugging Face checkpoint directory into a kiln model file",
             run_convert);

}  // namespace
}  // namespace kiln::cli
