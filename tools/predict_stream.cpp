#include "tools/predict_stream.h"

#include <deque>
#include <exception>

#include "nn/inference_engine.h"

namespace kiln::cli {

namespace {

// A record waiting for its model outputs: its inputs are `count` consecutive engine items.
struct Pending {
  data::Record record;
  size_t count;
};

}  // namespace

size_t stream_predictions(data::RecordReader& reader, train::Predictor& predictor,
                          const nn::Model& model, const StreamOptions& options,
                          const StreamSink& sink) {
  nn::InferenceEngine engine(model, {options.batch_size, options.pad_values, {}, options.outputs});
  const size_t window =
      static_cast<size_t>(options.window > 0 ? options.window : 64 * options.batch_size);
  std::deque<Pending> pending;
  size_t written = 0;

  // Runs what is queued and writes every pending record, in input order.
  auto drain = [&] {
    if (pending.empty()) return;
    const std::vector<nn::NamedTensors> outputs = engine.run();
    size_t at = 0;
    for (const Pending& p : pending) {
      const std::vector<nn::NamedTensors> mine(outputs.begin() + at,
                                               outputs.begin() + at + p.count);
      at += p.count;
      sink.write(written++, p.record, predictor.format(p.record, mine));
    }
    pending.clear();
    if (sink.flush) sink.flush();
  };

  for (;;) {
    if (!pending.empty() && (engine.queued() >= window || !reader.ready())) drain();
    try {
      std::optional<data::Record> record;
      try {
        record = reader.next();
      } catch (const data::RecordError& e) {
        if (!sink.skip) throw;
        sink.skip(e.what());
        continue;
      }
      if (!record) break;
      std::vector<nn::NamedTensors> items;
      try {
        items = predictor.inputs(*record);
      } catch (const Error& e) {
        if (!sink.skip) throw;
        sink.skip(e.what());
        continue;
      }
      pending.push_back({std::move(*record), items.size()});
      for (auto& item : items) engine.submit(std::move(item));
    } catch (...) {
      // The records before the bad one still get their output.
      std::exception_ptr error = std::current_exception();
      drain();
      std::rethrow_exception(error);
    }
  }
  drain();
  return written;
}

}  // namespace kiln::cli
