// kiln prune -m MODEL -o OUT --ffn-keep FRACTION
// Writes a copy of a float model whose transformer feed-forward blocks keep FRACTION of their
// neurons (quant/prune.h: whole neurons, by magnitude importance, every block to the same width):
// a smaller model with fewer FLOPs on the same engine, to fine-tune back with `kiln train --model
// OUT`. Prints, per block, the neurons kept and the share of its importance they hold, and the
// parameters and file sizes before and after.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "nn/model_file.h"
#include "quant/prune.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/model_loading.h"

namespace kiln::cli {
namespace {

int64_t parameters(const nn::ModelFile& mf) {
  int64_t n = 0;
  for (const auto& [name, t] : mf.tensors) n += t.numel();
  return n;
}

int run_prune(const std::vector<std::string>& args) {
  ArgParser p("prune", "-m MODEL -o OUT --ffn-keep FRACTION");
  p.option("model", "float kiln model file (BERT, RoBERTa, DistilBERT or BART family)", "-m")
      .option("output", "where to write the pruned model file (replaced atomically)", "-o")
      .option("ffn-keep",
              "share of each feed-forward block's neurons to keep, in (0, 1]: 0.5 halves "
              "intermediate_size (encoder_ffn_dim, decoder_ffn_dim)")
      .flag("no-verify", kNoVerifyHelp);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const std::string in = p.get("model"), out = p.get("output");
  if (!p.given("ffn-keep")) throw UsageError("--ffn-keep is required (e.g. --ffn-keep 0.5)");
  const double keep = p.get_double("ffn-keep");
  if (!(keep > 0 && keep <= 1)) throw UsageError("--ffn-keep must be in (0, 1]");

  nn::ModelFile mf = nn::read_model_file(in, !p.get_flag("no-verify"));
  const int64_t before = parameters(mf);
  const auto report = quant::prune_feed_forward(mf, keep, in);
  mf.provenance["pruned_from"] = in;
  // The pruned config must describe the pruned tensors, as any file kiln reads must.
  nn::check_config_against_tensors(nn::family_by_name(mf.family, out), mf.config, mf.tensors, out);
  nn::write_model_file(out, mf);

  std::cout << std::left << std::setw(56) << "feed-forward block" << std::right << std::setw(9)
            << "neurons" << std::setw(7) << "kept" << std::setw(18) << "importance kept\n";
  for (const auto& r : report)
    std::cout << std::left << std::setw(56) << r.block << std::right << std::setw(9) << r.before
              << std::setw(7) << r.kept.size() << std::setw(16) << std::fixed
              << std::setprecision(1) << 100.0 * r.importance_kept << "%\n";
  const int64_t after = parameters(mf);
  std::cout << "\nparameters: " << before << " -> " << after << " (" << std::setprecision(1)
            << 100.0 * static_cast<double>(after) / static_cast<double>(before) << "%); wrote "
            << out << " (" << std::setprecision(2)
            << static_cast<double>(std::filesystem::file_size(out)) / 1e6
            << " MB). Fine-tune it to recover accuracy: kiln train --model " << out << " ...\n";
  return 0;
}

KILN_COMMAND("prune",
             "remove whole feed-forward neurons (structured, by magnitude) for a smaller, faster "
             "model",
             run_prune);

}  // namespace
}  // namespace kiln::cli
