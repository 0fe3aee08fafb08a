// kiln data fingerprint FILE... [-o FILE.dvc] [--json]
// The md5 and size DVC records for each file, printed as a .dvc file (DVC 3's layout: outs with
// md5, size, hash: md5, path), so that a kiln run's manifest (which holds the same md5 beside the
// sha256) can be matched to a DVC-tracked data version; --json adds the sha256. Directories are
// refused: DVC hashes them through a listing object kiln does not write.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/io/atomic_file.h"
#include "data/file_hashes.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/data_denoise.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

// A YAML plain scalar where it is safe, else a double-quoted one (JSON string syntax is YAML's).
std::string yaml_string(const std::string& s) {
  const bool plain = !s.empty() &&
                     s.find_first_of(":#'\"{}[],&*!|>%@`\\ \t") == std::string::npos &&
                     s.front() != '-' && s.front() != '?';
  return plain ? s : nlohmann::json(s).dump();
}

int fingerprint(const std::vector<std::string>& args) {
  ArgParser p("data fingerprint", "FILE... [-o FILE.dvc] [--json]");
  p.positional("files", "data files to fingerprint", false)
      .option("output",
              "write the .dvc file here (atomically) instead of standard output; paths in it are "
              "then relative to its directory, as DVC writes them",
              "-o")
      .flag("json", "one JSON line per file with path, size, md5 and sha256");
  std::vector<std::string> rest, files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-o" || args[i] == "--output") {
      rest.push_back(args[i]);
      if (i + 1 < args.size()) rest.push_back(args[++i]);
    } else {
      (args[i].rfind("-", 0) == 0 ? rest : files).push_back(args[i]);
    }
  }
  p.parse(rest);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  if (files.empty()) throw UsageError("name at least one file");
  const auto output = p.get_optional("output");
  const fs::path base = output ? fs::absolute(*output).parent_path() : fs::current_path();
  std::string text = "outs:\n";
  for (const auto& f : files) {
    KILN_CHECK(!fs::is_directory(f), f,
               ": a directory (kiln fingerprints files; DVC hashes a directory as a listing of its "
               "files)");
    const data::FileHashes h = data::hash_file(f);
    if (p.get_flag("json")) {
      std::cout << nlohmann::ordered_json{{"path", f},
                                          {"size", h.size},
                                          {"md5", h.md5},
                                          {"sha256", h.sha256}}
                       .dump()
                << "\n";
      continue;
    }
    const std::string path =
        output ? fs::absolute(f).lexically_normal().lexically_relative(base).string() : f;
    text += "- md5: " + h.md5 + "\n  size: " + std::to_string(h.size) +
            "\n  hash: md5\n  path: " + yaml_string(path) + "\n";
  }
  if (p.get_flag("json")) return 0;
  if (output)
    io::atomic_write_file(*output, text);
  else
    std::cout << text;
  return 0;
}

int run_data(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "fingerprint") return fingerprint({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "denoise") return run_data_denoise({args.begin() + 1, args.end()});
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: kiln data fingerprint FILE... [-o FILE.dvc] [--json]\n"
                 "  the md5 (as DVC records it), size and sha256 of data files\n"
                 "usage: kiln data denoise -i FILES -o PAIRS.jsonl [options]\n"
                 "  BART denoising pre-training pairs (text infilling, sentence permutation)\n";
    return 0;
  }
  throw UsageError("expected a sub-command: kiln data fingerprint FILE... | kiln data denoise ...");
}

KILN_COMMAND("data",
             "data: fingerprint files as DVC does (md5); make denoising pre-training pairs",
             run_data);

}  // namespace
}  // namespace kiln::cli
