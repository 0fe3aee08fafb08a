// The rows of an image-classification data file (JSON lines or CSV): a label, an image path
// and/or metadata fields, and optionally a group (HAM10000's lesion_id). Reading checks what
// every model needs (the label, the group, the --metadata-fields); encode() checks what this
// model needs (its image files exist, its metadata can be encoded), each error naming
// file:line and the field. Decoded images are cached up to a memory budget, since an epoch reads
// every one of them again.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/image.h"
#include "train/image_inputs.h"
#include "train/task.h"

namespace kiln::train {

// The flags of --task image-classification, by name in TaskSetup::task_options.
struct ImageTaskOptions {
  std::string image_field = "image";
  std::string image_dir;                     // empty: relative to the data file
  std::vector<std::string> metadata_fields;  // empty: the model's encoding decides
  std::string group_field;                   // empty: rows are split one by one
  double crop_scale_min = 0.08;              // RandomResizedCrop's lower area bound; 0: resize
  double hflip = 0.5, vflip = 0.0;           // flip probabilities
  // Decoded images kept in memory after their first use, in MiB (0: decode on every use). A
  // training run's resident memory grows by each new image's RGB bytes until the budget is spent.
  int64_t image_cache_mb = 1024;

  // Usage errors (bad numbers, empty names) are kiln::Error naming the flag.
  static ImageTaskOptions from(const std::map<std::string, std::string>& options);
};

struct ImageRow {
  size_t line = 0;
  std::string label;
  nlohmann::json fields;  // the whole record (CSV cells are strings)
  std::string group;      // the --group-field value, "" without one
};

class ImageClassificationData : public TaskData {
 public:
  std::vector<ImageRow> rows;
  // Filled by encode():
  ImageInputs inputs;
  std::vector<int64_t> labels;
  std::vector<std::string> image_paths;           // resolved; empty when the model takes no image
  std::vector<std::vector<float>> metadata;       // empty when the model takes no metadata
  int64_t cache_budget_bytes = int64_t{1} << 30;  // ImageTaskOptions::image_cache_mb

  size_t size() const override { return rows.size(); }
  // One example counts as one "token" in throughput figures (examples per second).
  int64_t tokens(size_t) const override { return 1; }
  std::string where(size_t i) const { return path + ":" + std::to_string(rows[i].line) + ": "; }

  // Example i's decoded image (errors name file:line and the image file); thread-safe.
  std::shared_ptr<const data::Image> image(size_t i) const;

 private:
  mutable std::mutex mutex_;
  mutable std::map<size_t, std::shared_ptr<const data::Image>> cache_;
  mutable int64_t cached_bytes_ = 0;
};

// Reads every row of `path`; `label_field` from the setup's field map.
std::unique_ptr<ImageClassificationData> read_image_rows(const std::string& path,
                                                         const std::string& label_field,
                                                         const ImageTaskOptions& options,
                                                         data::Format format);

// The label set: sorted names, or "0".."max" when every label is a non-negative integer.
std::vector<std::string> image_labels_from_rows(const ImageClassificationData& data);

// The metadata encoding of `fields` learned from the rows: the first field numeric (mean and
// population standard deviation of its present values), the others categorical (their sorted
// distinct values, an empty value counted as "unknown").
nn::MetadataEncoding learn_metadata_encoding(const ImageClassificationData& data,
                                             const std::vector<std::string>& fields);

// Splits off about `fraction` of the rows (whole groups when rows have one: no group on both
// sides) into a new data set: groups in a seeded random order are taken until the held-out rows
// reach fraction * rows. Both sides keep their rows in file order.
std::unique_ptr<ImageClassificationData> split_image_rows(ImageClassificationData& data,
                                                          double fraction, uint64_t seed);

}  // namespace kiln::train
