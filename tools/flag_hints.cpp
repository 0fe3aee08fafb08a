#include "tools/flag_hints.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace kiln::cli {
namespace {

// Hugging Face names (TrainingArguments and the run_ner / run_glue example scripts) whose kiln
// flag is not just the same words joined by hyphens. A hint is only given when the command
// declares the kiln flag, so `kiln tag --output_dir` is not pointed at a flag it lacks.
const std::map<std::string, std::string>& hugging_face_names() {
  static const std::map<std::string, std::string> names = {
      {"num_train_epochs", "epochs"},
      {"per_device_train_batch_size", "per-device-batch-size"},
      {"per_device_eval_batch_size", "batch-size"},
      {"output_dir", "output"},
      {"model_name_or_path", "model"},
      {"tokenizer_name", "tokenizer"},
      {"config_name", "config"},
      {"train_file", "train"},
      {"validation_file", "eval"},
      {"text_column_name", "text-field"},
      {"label_column_name", "label-field"},
      {"max_seq_length", "max-length"},
      {"lr_scheduler_type", "lr-scheduler"},
      {"label_smoothing_factor", "label-smoothing"},
      {"metric_for_best_model", "metric"},
      {"early_stopping_patience", "patience"},
      {"resume_from_checkpoint", "resume"},
  };
  return names;
}

std::string with_every(std::string s, char from, char to) {
  std::replace(s.begin(), s.end(), from, to);
  return s;
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_declared(const std::string& name, const std::vector<std::string>& declared) {
  return std::find(declared.begin(), declared.end(), name) != declared.end();
}

// Levenshtein distance: insertions, deletions and substitutions each cost one
// edit.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substituted = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substituted});
    }
  }
  return row[b.size()];
}

}  // namespace

std::string suggest_flag(const std::string& unknown, const std::vector<std::string>& declared) {
  const std::string hyphenated = with_every(lowercase(unknown), '_', '-');
  if (is_declared(hyphenated, declared)) return hyphenated;

  const auto& hf = hugging_face_names();
  if (auto it = hf.find(with_every(hyphenated, '-', '_'));
      it != hf.end() && is_declared(it->second, declared))
    return it->second;

  // Two edits catch a dropped or doubled letter and most transpositions; the distance must also
  // be shorter than the word, or every short typo would "mean" every short flag.
  constexpr size_t kMaxEdits = 2;
  std::string best;
  size_t best_distance = kMaxEdits + 1;
  for (const auto& name : declared) {
    const size_t d = edit_distance(hyphenated, name);
    if (d < best_distance && d < hyphenated.size()) {
      best = name;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace kiln::cli
