// nn::InferenceEngine: batched results must be bit-identical to running each item alone, come back
// in submission order, and be cut back to each item's own length; batches are formed from the
// length-sorted queue and padded with each input's pad value.
#include "nn/inference_engine.h"

#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/bert.h"

namespace kiln::nn {
namespace {

std::unique_ptr<BertModel> tiny_bert(const std::string& architecture) {
  nlohmann::json c = {{"model_type", "bert"},
                      {"architectures", {architecture}},
                      {"vocab_size", 40},
                      {"hidden_size", 16},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", 2},
                      {"intermediate_size", 24},
                      {"max_position_embeddings", 64},
                      {"id2label", {{"0", "O"}, {"1", "B-X"}, {"2", "I-X"}}}};
  auto m = std::make_unique<BertModel>(BertConfig::from_json(c, "test config"));
  Generator gen(11);
  m->init_weights(gen);
  m->eval();
  return m;
}

// Token items of the given lengths: ids in [1, 40), a second segment of type 1 in longer items.
std::vector<NamedTensors> token_items(const std::vector<int64_t>& lengths) {
  std::vector<NamedTensors> items;
  int64_t next = 5;
  for (int64_t n : lengths) {
    std::vector<int64_t> ids, types;
    for (int64_t t = 0; t < n; ++t) {
      next = (next * 17 + 3) % 39;
      ids.push_back(next + 1);
      types.push_back(n > 6 && t >= n / 2 ? 1 : 0);
    }
    items.push_back({{"input_ids", Tensor::from_ints(ids, {n})},
                     {"attention_mask", Tensor::from_ints(std::vector<int64_t>(n, 1), {n})},
                     {"token_type_ids", Tensor::from_ints(types, {n})}});
  }
  return items;
}

// The item alone through the model (a batch of one, no padding), batch dimension removed.
NamedTensors alone(const Model& model, const NamedTensors& item, const ForwardOptions& options) {
  NoGradGuard ng;
  NamedTensors batch;
  for (const auto& [name, t] : item) batch[name] = t.unsqueeze(0);
  NamedTensors out = model.forward(batch, options);
  for (auto& [name, t] : out) t = t.select(0, 0);
  return out;
}

void expect_bit_identical(const NamedTensors& got, const NamedTensors& want,
                          const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << what << " lacks " << name;
    EXPECT_EQ(got.at(name).shape(), t.shape()) << what << " " << name;
    EXPECT_EQ(got.at(name).to_vector(), t.to_vector()) << what << " " << name;
  }
}

const std::vector<int64_t> kMixedLengths = {5, 1, 12, 7, 7, 3, 20, 2, 9, 15, 4, 11, 7, 30, 6};

TEST(InferenceEngine, TokenHeadBatchesEqualSingleItemForwards) {
  auto model = tiny_bert("BertForTokenClassification");
  const auto items = token_items(kMixedLengths);
  ForwardOptions fo;
  fo.hidden_states = true;  // per-token outputs of every layer are cut back too
  std::vector<NamedTensors> want;
  for (const auto& item : items) want.push_back(alone(*model, item, fo));
  for (int64_t batch : {1, 3, 16}) {
    InferenceEngine engine(*model, {batch, {{"input_ids", 0}}, fo});
    const auto got = engine.run(items);
    ASSERT_EQ(got.size(), items.size());
    EXPECT_EQ(engine.queued(), 0u);
    for (size_t i = 0; i < items.size(); ++i) {
      expect_bit_identical(got[i], want[i],
                           "batch " + std::to_string(batch) + " item " + std::to_string(i));
      EXPECT_EQ(got[i].at("logits").shape(), (Shape{kMixedLengths[i], 3}));
    }
  }
}

TEST(InferenceEngine, SequenceHeadKeepsPerSequenceOutputsWhole) {
  auto model = tiny_bert("BertForSequenceClassification");
  const auto items = token_items(kMixedLengths);
  std::vector<NamedTensors> want;
  for (const auto& item : items) want.push_back(alone(*model, item, {}));
  for (int64_t batch : {1, 3, 16}) {
    InferenceEngine engine(*model, {batch, {{"input_ids", 0}}, {}});
    for (const auto& item : items) engine.submit(item);
    EXPECT_EQ(engine.queued(), items.size());
    const auto got = engine.run();
    ASSERT_EQ(got.size(), items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      expect_bit_identical(got[i], want[i],
                           "batch " + std::to_string(batch) + " item " + std::to_string(i));
      EXPECT_EQ(got[i].at("logits").shape(), (Shape{3}));
      EXPECT_EQ(got[i].at("pooler_output").shape(), (Shape{16}));
    }
  }
}

// Shows what the model was given: "seen" is the padded input as [batch, length, 1] (so it is cut
// back per item), "padded" the same as [batch, length] (kept whole), "batch_length" the length
// of the batch the item ran in, and "image" any float input unchanged.
class EchoModel : public Model {
 public:
  NamedTensors forward(const NamedTensors& inputs, const ForwardOptions&) const override {
    NamedTensors out;
    if (inputs.count("x")) {
      const Tensor& x = inputs.at("x");
      out["seen"] = x.unsqueeze(-1);
      out["padded"] = x;
      out["batch_length"] = Tensor::full({x.size(0)}, static_cast<double>(x.size(1)), DType::I64);
    }
    if (inputs.count("pixels")) out["image"] = mul(inputs.at("pixels"), 1.0);
    ++calls;
    return out;
  }
  void init_weights(Generator&) override {}
  void set_dropout_generator(Generator*) override {}
  mutable int calls = 0;
};

NamedTensors ints(const std::vector<int64_t>& v) {
  return {{"x", Tensor::from_ints(v, {static_cast<int64_t>(v.size())})}};
}

TEST(InferenceEngine, BatchesTheLengthSortedQueueAndPadsWithThePadValue) {
  EchoModel model;
  InferenceEngine engine(model, {2, {{"x", -7}}, {}});
  // Sorted by length: item 1 (1), item 2 (2), item 0 (3), item 3 (5) -> batches {1, 2}, {0, 3}.
  const auto got = engine.run({ints({1, 2, 3}), ints({4}), ints({5, 6}), ints({7, 8, 9, 10, 11})});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(model.calls, 2);
  EXPECT_EQ(got[0].at("batch_length").item(), 5);
  EXPECT_EQ(got[1].at("batch_length").item(), 2);
  EXPECT_EQ(got[2].at("batch_length").item(), 2);
  EXPECT_EQ(got[3].at("batch_length").item(), 5);
  EXPECT_EQ(got[0].at("seen").to_ints(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(got[1].at("seen").to_ints(), (std::vector<int64_t>{4}));
  EXPECT_EQ(got[3].at("seen").shape(), (Shape{5, 1}));
  EXPECT_EQ(got[0].at("padded").to_ints(), (std::vector<int64_t>{1, 2, 3, -7, -7}));
  EXPECT_EQ(got[1].at("padded").to_ints(), (std::vector<int64_t>{4, -7}));
}

TEST(InferenceEngine, EqualLengthsKeepSubmissionOrderAndEmptyItemsWork) {
  EchoModel model;
  InferenceEngine engine(model, {2, {}, {}});
  const auto got = engine.run({ints({1, 1}), ints({}), ints({2, 2}), ints({3, 3})});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].at("seen").shape(), (Shape{0, 1}));  // an empty sequence stays empty
  EXPECT_EQ(got[0].at("seen").to_ints(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(got[2].at("seen").to_ints(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(got[3].at("seen").to_ints(), (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(engine.run().empty());
}

TEST(InferenceEngine, StacksFixedSizeItemsWithoutPadding) {
  EchoModel model;
  InferenceEngine engine(model, {3, {}, {}});
  std::vector<NamedTensors> items;
  for (int i = 0; i < 4; ++i) items.push_back({{"pixels", Tensor::full({3, 2, 2}, 0.5 + i)}});
  const auto got = engine.run(items);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].at("image").shape(), (Shape{3, 2, 2}));
    EXPECT_EQ(got[i].at("image").to_vector(), std::vector<double>(12, 0.5 + i));
  }
}

TEST(InferenceEngine, HandsBackOnlyTheOutputsAskedFor) {
  EchoModel model;
  InferenceEngine engine(model, {2, {}, {}, {"seen"}});
  const auto got = engine.run({ints({1, 2}), ints({3})});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[1].at("seen").to_ints(), (std::vector<int64_t>{3}));
  InferenceEngine missing(model, {2, {}, {}, {"logits"}});
  try {
    missing.run({ints({1})});
    FAIL() << "an output the model lacks must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'logits'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("seen"), std::string::npos) << e.what();
  }
}

TEST(InferenceEngine, RejectsMismatchedItemsAndBadBatchSizes) {
  EchoModel model;
  EXPECT_THROW(InferenceEngine(model, {0, {}, {}}), Error);
  InferenceEngine engine(model, {4, {}, {}});
  EXPECT_THROW(engine.run({ints({1}), {{"y", Tensor::from_ints({1}, {1})}}}), Error);
  EXPECT_THROW(engine.run({ints({1}), {{"x", Tensor::from_ints({1, 2}, {1, 2})}}}), Error);
  EXPECT_THROW(engine.run({ints({1}), {{"x", Tensor::from_floats({1}, {1})}}}), Error);
}

}  // namespace
}  // namespace kiln::nn
