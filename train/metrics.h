// Evaluation metrics for the training loop, matching the scores people compare against:
// seqeval's default (non-strict) entity scores for IOB2 tagging, and accuracy / macro-F1 (as
// sklearn's f1_score(average="macro")) for sequence classification.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

struct EntityScores {
  double precision = 0, recall = 0, f1 = 0;
  double accuracy = 0;  // word-level tag accuracy
  int64_t gold_entities = 0, predicted_entities = 0, correct_entities = 0;
};

// Gold and predicted tag sequences, one pair per sentence (equal lengths). Entities come from
// iob2_spans (an I- without a preceding B- opens an entity, as seqeval does); an entity is correct
// when type, start and end all match. Micro-averaged over types. 0/0 is scored 0.
EntityScores entity_scores(const std::vector<std::vector<std::string>>& gold,
                           const std::vector<std::vector<std::string>>& predicted);

struct ClassScores {
  double accuracy = 0;
  double macro_f1 = 0;  // mean over classes present in gold or predictions
};

ClassScores class_scores(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted);

}  // namespace kiln::train
