// The pieces of image classification checked against hand-computed values: scikit-learn's
// balanced class weights (HAM10000's counts, as fusion-tiny's README lists them), balanced
// accuracy and macro-F1, the group-aware split, the learned metadata encoding and its errors,
// the step schedule and the confusion-matrix picture.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "nn/metadata_mlp.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"
#include "train/class_weights.h"
#include "train/confusion_matrix.h"
#include "train/image_classification_data.h"
#include "train/schedule.h"
#include "train/task.h"

namespace kiln::train {
namespace {

using kiln::testing::message_of;

TEST(ImageClassification, BalancedClassWeightsAreScikitLearns) {
  // HAM10000's 10015 rows: akiec, bcc, bkl, df, mel, nv, vasc.
  const std::vector<int64_t> counts = {327, 514, 1099, 115, 1113, 6705, 142};
  const std::vector<std::string> labels = {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"};
  const auto w = balanced_class_weights(counts, labels, "ham.csv");
  // The README's float32 values of 10015 / (7 * count).
  const std::vector<float> want = {4.37527322769165f,   2.7834908962249756f, 1.3018327951431274f,
                                   12.440994262695312f, 1.2854576110839844f, 0.21338020265102386f,
                                   10.07545280456543f};
  ASSERT_EQ(w.size(), want.size());
  for (size_t c = 0; c < w.size(); ++c) {
    EXPECT_EQ(static_cast<float>(w[c]), want[c]) << labels[c];
    EXPECT_DOUBLE_EQ(w[c], 10015.0 / (7.0 * static_cast<double>(counts[c])));
  }
  EXPECT_NE(message_of([&] {
              balanced_class_weights({3, 0}, {"a", "b"}, "t.csv");
            }).find("t.csv: --class-weights balanced: class 'b' has no training example"),
            std::string::npos);
}

// Rows with labels only, "encoded" by hand for a metadata-free evaluation.
void labelled(ImageClassificationData& d, const std::vector<int64_t>& labels) {
  d.path = "x.jsonl";
  for (size_t i = 0; i < labels.size(); ++i) {
    d.rows.push_back({i + 1, std::to_string(labels[i]), nlohmann::json::object(), ""});
    d.labels.push_back(labels[i]);
  }
}

TEST(ImageClassification, BalancedAccuracyAndMacroF1AreHandComputed) {
  // gold 0 0 0 1 1 2, predicted 0 0 1 1 2 2:
  //   recall 2/3, 1/2, 1 -> balanced accuracy 13/18; precision 1, 1/2, 1/2;
  //   F1 0.8, 0.5, 2/3 -> macro-F1 59/90; accuracy 4/6.
  ImageClassificationData d;
  labelled(d, {0, 0, 0, 1, 1, 2});
  const std::vector<int64_t> predicted = {0, 0, 1, 1, 2, 2};
  std::vector<double> logits;
  for (int64_t p : predicted)
    for (int64_t c = 0; c < 3; ++c) logits.push_back(c == p ? 2.0 : 0.0);
  TaskSetup setup;
  setup.labels = {"0", "1", "2"};
  auto ev = task_by_name("image-classification").evaluation(setup);
  ev->add({{"logits", Tensor::from_vector({logits.begin(), logits.begin() + 9}, {3, 3})}}, d,
          {0, 1, 2});
  ev->add({{"logits", Tensor::from_vector({logits.begin() + 9, logits.end()}, {3, 3})}}, d,
          {3, 4, 5});
  const auto m = ev->metrics();
  EXPECT_NEAR(m["balanced_accuracy"].get<double>(), 13.0 / 18.0, 1e-12);
  EXPECT_NEAR(m["macro_f1"].get<double>(), 59.0 / 90.0, 1e-12);
  EXPECT_NEAR(m["accuracy"].get<double>(), 4.0 / 6.0, 1e-12);
  EXPECT_EQ(m["confusion_matrix"], nlohmann::json({{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}));
  // A class absent from gold does not count in the balanced accuracy (as scikit-learn).
  ImageClassificationData d2;
  labelled(d2, {0, 0});
  auto ev2 = task_by_name("image-classification").evaluation(setup);
  ev2->add({{"logits", Tensor::from_vector({2, 0, 0, 0, 0, 2}, {2, 3})}}, d2, {0, 1});
  EXPECT_NEAR(ev2->metrics()["balanced_accuracy"].get<double>(), 0.5, 1e-12);
}

void grouped(ImageClassificationData& d, size_t n) {
  d.path = "g.csv";
  for (size_t i = 0; i < n; ++i)
    d.rows.push_back({i + 2, i % 3 ? "a" : "b", {{"i", i}}, "G" + std::to_string(i * 7 % 23 / 2)});
}

TEST(ImageClassification, GroupSplitKeepsGroupsWholeAndFollowsTheSeed) {
  std::vector<std::set<size_t>> held_by_seed;
  for (uint64_t seed : {1, 1, 2}) {
    ImageClassificationData d;
    grouped(d, 40);
    const auto eval = split_image_rows(d, 0.25, seed);
    std::set<std::string> train_groups, eval_groups;
    for (const auto& r : d.rows) train_groups.insert(r.group);
    std::set<size_t> held;
    for (const auto& r : eval->rows) {
      eval_groups.insert(r.group);
      held.insert(r.fields["i"].get<size_t>());
    }
    for (const auto& g : eval_groups) EXPECT_EQ(train_groups.count(g), 0u) << g << " on both sides";
    EXPECT_EQ(d.rows.size() + eval->rows.size(), 40u);
    EXPECT_GE(eval->rows.size(), 10u);  // at least a quarter, at most one group (<= 4 rows) over
    EXPECT_LE(eval->rows.size(), 16u);
    for (size_t k = 1; k < eval->rows.size(); ++k)
      EXPECT_LT(eval->rows[k - 1].line, eval->rows[k].line) << "file order kept";
    held_by_seed.push_back(held);
  }
  EXPECT_EQ(held_by_seed[0], held_by_seed[1]) << "the same seed, the same split";
  EXPECT_NE(held_by_seed[0], held_by_seed[2]) << "another seed, another split";
  // Without a group field every row is its own group.
  ImageClassificationData d;
  grouped(d, 40);
  for (auto& r : d.rows) r.group.clear();
  EXPECT_EQ(split_image_rows(d, 0.25, 3)->rows.size(), 10u);
}

TEST(ImageClassification, MetadataEncodingIsLearnedAndChecked) {
  ImageClassificationData d;
  d.path = "m.csv";
  const nlohmann::json rows[] = {{{"age", "40"}, {"sex", "male"}, {"site", "back"}},
                                 {{"age", ""}, {"sex", ""}, {"site", "face"}},
                                 {{"age", 60}, {"sex", "female"}, {"site", "back"}},
                                 {{"age", "50.0"}, {"sex", "male"}, {"site", "acral"}}};
  for (size_t i = 0; i < 4; ++i) d.rows.push_back({i + 2, "a", rows[i], ""});
  const nn::MetadataEncoding e = learn_metadata_encoding(d, {"age", "sex", "site"});
  EXPECT_EQ(e.age_field, "age");
  EXPECT_DOUBLE_EQ(e.age_mean, 50.0);
  EXPECT_DOUBLE_EQ(e.age_std, std::sqrt(200.0 / 3.0));  // population standard deviation
  EXPECT_EQ(e.layout(),
            (std::vector<std::string>{"age_z", "age_missing", "sex=female", "sex=male",
                                      "sex=unknown", "site=acral", "site=back", "site=face"}));
  // An unseen sex maps to "unknown"; an unseen site (no "unknown" site) is an error.
  const auto v = encode_metadata(e, {{"age", 60}, {"sex", "other"}, {"site", "face"}}, "r:1: ");
  const float z = static_cast<float>((60.0f - 50.0f) / static_cast<float>(e.age_std));
  EXPECT_EQ(v, (std::vector<float>{z, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(message_of([&] {
              encode_metadata(e, {{"age", 1}, {"sex", "male"}, {"site", "ear"}}, "r:3: ");
            }),
            "r:3: field \"site\": unknown value 'ear' (the model knows: acral, back, face)");
  EXPECT_NE(message_of([&] {
              learn_metadata_encoding(d, {"sex", "site"});
            }).find("m.csv:2: field \"sex\": 'male' is not a number"),
            std::string::npos)
      << "the first field is the numeric one";
}

TEST(ImageClassification, StepScheduleDecaysByGammaEveryStepSize) {
  const Schedule s{ScheduleKind::Step, 100, 2, 10, 0.5};
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);  // warm-up
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(11), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(12), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(35), 0.125);
  EXPECT_EQ(parse_schedule("step"), ScheduleKind::Step);
}

TEST(ImageClassification, ConfusionMatrixPictureShowsCountsAndLabels) {
  const std::string svg = render_confusion_matrix({"a<b", "c"}, {{5, 1}, {0, 7}}, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a&lt;b"), std::string::npos);
  EXPECT_NE(svg.find(">7</text>"), std::string::npos);
  EXPECT_NE(svg.find("gold a&lt;b, predicted c: 1"), std::string::npos);
  EXPECT_NE(message_of([] { render_confusion_matrix({"a"}, {{1, 2}}, "t"); }), "(no error)");
}

// The metadata MLP is the fusion model's metadata branch under the same names: with
// fusion-tiny's meta.* and meta_head weights it gives torchvision's metadata logits.
TEST(ImageClassification, MetadataMlpIsTheFusionMetadataBranch) {
  const std::string dir = std::string(KILN_SHARED_DIR) + "/refs/models/fusion-tiny/";
  if (!std::filesystem::exists(dir + "config.json")) GTEST_SKIP() << "fixtures not present";
  const auto fusion = nlohmann::json::parse(std::ifstream(dir + "config.json"));
  const nlohmann::json config = {{"model_type", "metadata-mlp"},
                                 {"meta_hidden", fusion["meta_hidden"]},
                                 {"class_names", fusion["class_names"]},
                                 {"metadata_encoding", fusion["metadata_encoding"]}};
  nn::MetadataMlp mlp(nn::MetadataMlpConfig::from_json(config, "config"));
  const nn::StateDict weights = nn::load_safetensors(dir + "model.safetensors");
  nn::StateDict mine;
  for (const auto& [name, t] : weights)
    if (name.rfind("meta", 0) == 0) mine[name] = t;
  mlp.load_state_dict(mine, /*strict=*/true, "fusion-tiny meta.*");
  mlp.eval();
  const nn::StateDict ref = nn::load_safetensors(dir + "reference.safetensors");
  const Tensor logits = mlp.forward({{"metadata", ref.at("input_meta")}}).at("logits");
  EXPECT_LE(kiln::testing::max_abs_diff(logits, ref.at("meta_logits_eval")), 1e-5);
}

}  // namespace
}  // namespace kiln::train
