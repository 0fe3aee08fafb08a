// kiln forward -m MODEL -i INPUTS.safetensors -o OUTPUTS.safetensors [--outputs a,b] [--train-mode]
// Runs any registered family's model on named input tensors and writes its named outputs, so a
// model can be checked against another implementation tensor by tensor. Names are Hugging Face's:
// inputs are forward arguments (input_ids, attention_mask, token_type_ids, ...), outputs are
// output fields (logits, last_hidden_state, pooler_output, hidden_states.N).
#include <algorithm>
#include <cstring>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/io/safetensors.h"
#include "core/thread_pool.h"
#include "nn/state_dict_io.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/forward_file.h"
#include "tools/model_loading.h"
#include "tools/threads.h"

namespace kiln::cli {
namespace {
std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) throw UsageError("--outputs has an empty name: '" + list + "'");
    out.push_back(item.substr(b, e - b + 1));
  }
  if (out.empty()) throw UsageError("--outputs needs at least one output name");
  return out;
}

int run_forward(const std::vector<std::string>& args) {
  ArgParser p("forward",
              "-m MODEL -i INPUTS.safetensors -o OUTPUTS.safetensors [--outputs a,b] "
              "[--train-mode]");
  p.option("model", "kiln model file (any registered family)", "-m")
      .option("input",
              "safetensors file of named inputs (input_ids, attention_mask, token_type_ids, ...); "
              "integer tensors of any width are converted to int64",
              "-i")
      .option(
          "output",
          "safetensors file to write the named outputs to (replaced atomically; through a symlink, "
          "the file it points to)",
          "-o")
      .option("outputs",
              "comma-separated outputs to write (logits, last_hidden_state, pooler_output, "
              "hidden_states.N); default: all of them, hidden states included")
      .flag("train-mode",
            "run the layers in training mode (e.g. batch statistics in batch norm); dropout is "
            "NOT applied, since no dropout generator is given")
      .option("threads", kThreadsHelp)
      .flag("no-verify", kNoVerifyHelp);
  p.parse(args);
  if (p.help_requested()) {
    std::cout << p.help_text();
    return 0;
  }
  const std::string in_path = p.get("input"), out_path = p.get("output");
  const std::optional<std::string> list = p.get_optional("outputs");
  const std::vector<std::string> wanted = list ? split_names(*list) : std::vector<std::string>{};
  const bool train_mode = p.get_flag("train-mode");
  apply_threads_flag(p);

  forward_file(p.get("model"), in_path, out_path,
               {wanted, train_mode, /*verify=*/!p.get_flag("no-verify")});
  return 0;
}
KILN_COMMAND("forward", "run a model on named input tensors and write its named outputs",
             run_forward);

}  // namespace
}  // namespace kiln::cli
