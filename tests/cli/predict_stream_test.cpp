// The streaming loop of the task commands (tools/predict_stream.h): outputs in input order, each
// record with its own model outputs; queued work runs as soon as the reader would block; never
// more than a window of model inputs held; records before a bad one still get their output.
#include "tools/predict_stream.h"

#include <gtest/gtest.h>

#include <deque>

#include "core/ops.h"

namespace kiln::cli {
namespace {

// Records {"id": i, "n": items}; ready() is false once before each record listed in `stalls`,
// as a pipe with nothing buffered would be.
class ScriptedReader : public data::RecordReader {
 public:
  ScriptedReader(std::vector<int> items_per_record, std::vector<size_t> stalls,
                 std::vector<std::string>& log)
      : items_(std::move(items_per_record)), stalls_(stalls.begin(), stalls.end()), log_(log) {}

  std::optional<data::Record> next() override {
    if (at_ == items_.size()) return std::nullopt;
    log_.push_back("read " + std::to_string(at_));
    data::Record r;
    r.fields = {{"id", at_}, {"n", items_[at_]}};
    r.source = "scripted";
    r.line = at_ + 1;
    ++at_;
    return r;
  }
  bool ready() override {
    if (!stalls_.empty() && stalls_.front() == at_) {
      stalls_.pop_front();
      return false;
    }
    return true;
  }
  const std::string& name() const override { return name_; }

 private:
  std::vector<int> items_;
  std::deque<size_t> stalls_;
  std::vector<std::string>& log_;
  size_t at_ = 0;
  std::string name_ = "scripted";
};

// Record i gives n items; item k is the sequence [i, k] repeated to length k + 1 (so outputs tell
// which record and item they came from, and lengths differ). Record `bad` throws.
class CountingPredictor : public train::Predictor {
 public:
  explicit CountingPredictor(int64_t bad = -1) : bad_(bad) {}
  std::vector<nn::NamedTensors> inputs(const data::Record& record) override {
    const int64_t id = record.fields["id"], n = record.fields["n"];
    if (id == bad_) throw Error(record.where() + "bad record");
    std::vector<nn::NamedTensors> out;
    for (int64_t k = 0; k < n; ++k) {
      std::vector<int64_t> v;
      for (int64_t t = 0; t <= k; ++t) v.push_back(id * 100 + k);
      out.push_back({{"x", Tensor::from_ints(v, {k + 1})}});
    }
    outstanding += n;
    max_outstanding = std::max(max_outstanding, outstanding);
    return out;
  }
  nlohmann::ordered_json format(const data::Record& record,
                                const std::vector<nn::NamedTensors>& outputs) override {
    outstanding -= static_cast<int64_t>(outputs.size());
    nlohmann::ordered_json seen = nlohmann::ordered_json::array();
    for (const auto& o : outputs) seen.push_back(o.at("seen").to_ints());
    return {{"id", record.fields["id"]}, {"seen", seen}};
  }
  int64_t outstanding = 0, max_outstanding = 0;

 private:
  int64_t bad_;
};

class EchoModel : public nn::Model {
 public:
  nn::NamedTensors forward(const nn::NamedTensors& in, const nn::ForwardOptions&) const override {
    return {{"seen", in.at("x")}};  // [batch, length]: kept whole, padding included
  }
  void init_weights(Generator&) override {}
  void set_dropout_generator(Generator*) override {}
};

struct Collected {
  std::vector<nlohmann::ordered_json> outputs;
  StreamSink sink;
  explicit Collected(std::vector<std::string>& log) {
    sink.write = [this, &log](size_t index, const data::Record&, const nlohmann::ordered_json& o) {
      EXPECT_EQ(index, outputs.size());
      log.push_back("write " + std::to_string(index));
      outputs.push_back(o);
    };
    sink.flush = [&log] { log.push_back("flush"); };
  }
};

const std::vector<int> kItems = {1, 3, 0, 2, 1, 5, 1, 1, 2, 4, 1, 0, 3};

TEST(PredictStream, OutputsInInputOrderEachWithItsOwnItems) {
  std::vector<std::string> log;
  ScriptedReader reader(kItems, {}, log);
  CountingPredictor predictor;
  EchoModel model;
  Collected c(log);
  const size_t n = stream_predictions(reader, predictor, model, {2, 4, {{"x", -1}}}, c.sink);
  ASSERT_EQ(n, kItems.size());
  ASSERT_EQ(c.outputs.size(), kItems.size());
  for (size_t i = 0; i < kItems.size(); ++i) {
    EXPECT_EQ(c.outputs[i]["id"], i);
    ASSERT_EQ(c.outputs[i]["seen"].size(), static_cast<size_t>(kItems[i]));
    for (int k = 0; k < kItems[i]; ++k)  // the first k + 1 values are the item's own
      EXPECT_EQ(c.outputs[i]["seen"][k][0], static_cast<int64_t>(i) * 100 + k);
  }
  EXPECT_EQ(predictor.outstanding, 0);
}

TEST(PredictStream, HoldsAtMostAWindowOfInputs) {
  std::vector<std::string> log;
  ScriptedReader reader(kItems, {}, log);
  CountingPredictor predictor;
  EchoModel model;
  Collected c(log);
  stream_predictions(reader, predictor, model, {2, 4, {}}, c.sink);
  // A window fills up to 4 items, plus what one more record brings (at most 5 here) minus one.
  EXPECT_LE(predictor.max_outstanding, 4 + 5 - 1);
  EXPECT_GT(std::count(log.begin(), log.end(), "flush"), 3);
}

TEST(PredictStream, RunsWhatIsQueuedWhenTheInputWouldBlock) {
  std::vector<std::string> log;
  ScriptedReader reader({1, 1, 1, 1, 1}, {1, 3}, log);  // stalls before records 1 and 3
  CountingPredictor predictor;
  EchoModel model;
  Collected c(log);
  stream_predictions(reader, predictor, model, {16, 0, {}}, c.sink);
  const std::vector<std::string> want = {"read 0",  "write 0", "flush", "read 1", "read 2",
                                         "write 1", "write 2", "flush", "read 3", "read 4",
                                         "write 3", "write 4", "flush"};
  EXPECT_EQ(log, want);
}

TEST(PredictStream, RecordsBeforeABadOneStillGetTheirOutput) {
  std::vector<std::string> log;
  ScriptedReader reader({1, 2, 1, 1, 1}, {}, log);
  CountingPredictor predictor(/*bad=*/3);
  EchoModel model;
  Collected c(log);
  EXPECT_THROW(stream_predictions(reader, predictor, model, {16, 0, {}}, c.sink), Error);
  ASSERT_EQ(c.outputs.size(), 3u);
  EXPECT_EQ(c.outputs[2]["id"], 2);
}

// Records {"id": i, "n": 1} for each 'o' of the script; 'r' throws a RecordError (a bad line the
// reader moved past), 'e' a plain Error (the input cannot be read on).
class FaultyReader : public data::RecordReader {
 public:
  explicit FaultyReader(std::string script) : script_(std::move(script)) {}
  std::optional<data::Record> next() override {
    if (at_ == script_.size()) return std::nullopt;
    const size_t i = at_++;
    const std::string where = "faulty:" + std::to_string(i + 1) + ": ";
    if (script_[i] == 'r') throw data::RecordError(where + "bad record");
    if (script_[i] == 'e') throw Error("faulty: read failed");
    data::Record r;
    r.fields = {{"id", i}, {"n", 1}};
    r.source = "faulty";
    r.line = i + 1;
    return r;
  }
  bool ready() override { return true; }
  const std::string& name() const override { return name_; }

 private:
  std::string script_;
  size_t at_ = 0;
  std::string name_ = "faulty";
};

TEST(PredictStream, SkipTakesBadRecordsAndTheStreamGoesOn) {
  std::vector<std::string> log;
  FaultyReader reader("oorooro");  // and record 4 (line 5) is refused by the predictor
  CountingPredictor predictor(/*bad=*/4);
  EchoModel model;
  Collected c(log);
  std::vector<std::string> skipped;
  c.sink.skip = [&](const std::string& e) { skipped.push_back(e); };
  const size_t n = stream_predictions(reader, predictor, model, {2, 0, {}}, c.sink);
  EXPECT_EQ(n, 4u);
  ASSERT_EQ(c.outputs.size(), 4u);
  const std::vector<int> ids = {0, 1, 3, 6};
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(c.outputs[i]["id"], ids[i]);
  EXPECT_EQ(skipped, (std::vector<std::string>{"faulty:3: bad record", "faulty:5: bad record",
                                               "faulty:6: bad record"}));
  EXPECT_EQ(predictor.outstanding, 0);
}

TEST(PredictStream, WithoutSkipABadRecordStopsTheStreamAfterTheRecordsBeforeIt) {
  std::vector<std::string> log;
  FaultyReader reader("ooro");
  CountingPredictor predictor;
  EchoModel model;
  Collected c(log);
  EXPECT_THROW(stream_predictions(reader, predictor, model, {16, 0, {}}, c.sink),
               data::RecordError);
  EXPECT_EQ(c.outputs.size(), 2u);
}

TEST(PredictStream, AnInputThatCannotBeReadIsNeverSkipped) {
  std::vector<std::string> log;
  FaultyReader reader("oeo");
  CountingPredictor predictor;
  EchoModel model;
  Collected c(log);
  size_t skips = 0;
  c.sink.skip = [&](const std::string&) { ++skips; };
  EXPECT_THROW(stream_predictions(reader, predictor, model, {16, 0, {}}, c.sink), Error);
  EXPECT_EQ(c.outputs.size(), 1u);  // the record before it is still written
  EXPECT_EQ(skips, 0u);
}

}  // namespace
}  // namespace kiln::cli
