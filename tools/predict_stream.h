// The streaming loop behind the task commands (tag, classify): records are read one at a time,
// turned into model inputs by the task's predictor, run in batches, and each record's output is
// handed on in input order as soon as its batch has run. At most `window` model inputs are held,
// so memory stays flat on any input size; and whenever the input has nothing more to give right
// now (an interactive pipe), what is queued runs at once instead of waiting for a full window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/record_reader.h"
#include "nn/model.h"
#include "train/task.h"

namespace kiln::cli {

struct StreamOptions {
  int64_t batch_size = 16;
  // Model inputs queued before they are run regardless of the input; 0: 64 * batch_size. Batches
  // are cut from the length-sorted window, so a small window means padding: on SST-2 sentences
  // a window of 4 batches pads to 1.45x the real tokens (2.2x the attention work), 64 batches
  // to 1.03x. What a window holds is token ids and the kept outputs, a few KB per input.
  int64_t window = 0;
  std::map<std::string, double> pad_values;  // see nn::InferenceOptions
  std::vector<std::string> outputs;          // the model outputs the predictor reads; empty: all
};

struct StreamSink {
  // One record's output; `index` counts records from 0.
  std::function<void(size_t index, const data::Record& record,
                     const nlohmann::ordered_json& output)>
      write;
  // Called after each run of queued records, so output reaches a pipe reader at once.
  std::function<void()> flush;
  // When set, a bad record is handed here (with the error, which names source:line) and the
  // stream goes on with the next one. A bad record is one the reader moved past
  // (data::RecordError: malformed JSON, a row with the wrong number of cells) or one the
  // predictor refused (a missing or mistyped field, text that is not UTF-8).
  std::function<void(const std::string& error)> skip;
};

// Runs `model` over every record of `reader`; returns the number of records written. An error in
// a record (reading or preparing it) first hands on the outputs of the records before it, then
// propagates, unless sink.skip takes it. Other errors (reading the input fails, the model fails)
// always propagate after the records before them are written.
size_t stream_predictions(data::RecordReader& reader, train::Predictor& predictor,
                          const nn::Model& model, const StreamOptions& options,
                          const StreamSink& sink);

}  // namespace kiln::cli
