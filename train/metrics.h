// Evaluation metrics for the training loop and `kiln eval`, matching the scores people compare
// against: seqeval's default (non-strict) entity scores for IOB2 tagging, and accuracy / macro-F1
// (as sklearn's f1_score(average="macro")), per-class scores and the confusion matrix (as
// sklearn's classification_report and confusion_matrix) for any classifier.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::train {

// Precision, recall and F1 of one class (or entity type), with its counts.
struct Score {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;    // gold items of the class
  int64_t predicted = 0;  // items predicted as the class
  int64_t correct = 0;
};

struct EntityScores {
  double precision = 0, recall = 0, f1 = 0;
  double accuracy = 0;  // word-level tag accuracy
  int64_t gold_entities = 0, predicted_entities = 0, correct_entities = 0;
  // By entity type, as seqeval's classification_report lists them.
  std::map<std::string, Score> per_type;
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

// Everything about a classifier over a fixed label set 0..num_labels-1: the confusion matrix
// (rows gold, columns predicted, as sklearn's confusion_matrix) and each class's scores, every
// class listed even when absent from both. A prediction of -1 (no prediction: a word cut off by
// truncation without an "O" label) is wrong and counts for no column. Gold ids must be in range.
struct ClassReport {
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted]
  std::vector<Score> per_class;
  double accuracy = 0;
  double macro_f1 = 0;  // as class_scores: the mean over classes present in gold or predictions
};

ClassReport class_report(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
                         int64_t num_labels);

}  // namespace kiln::train
