// Fine-tuning what people download, end to end through the kiln binary: `kiln convert` of the
// Hub's head shapes (*ForMaskedLM, *ForPreTraining, a bare *Model), `kiln train --task` adding a
// fresh head (--labels, --num-labels, --reinit-head), `kiln eval`, and `kiln classify`
// reproducing eval's numbers. Tiny fixtures (hidden 16-32, 2 layers) and a few hundred AG News
// rows keep each run to seconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nn/hf_checkpoint.h"
#include "nn/model_file.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kRefs = kShared + "/refs/models/";
const std::string kAgNews = kShared + "/data/ag_news/dev.jsonl";
const std::vector<std::string> kAgLabels = {"Business", "Sci/Tech", "Sports", "World"};

bool have(const std::vector<std::string>& paths) {
  for (const auto& p : paths)
    if (!fs::exists(p)) return false;
  return true;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::vector<nlohmann::json> parse_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Lines [first, first + n) of `src` into dir/name, optionally mapping each label.
std::string rows(const std::string& src, size_t first, size_t n, const TempDir& dir,
                 const std::string& name, const std::map<std::string, std::string>& relabel = {}) {
  std::ifstream in(src);
  std::ofstream out(dir / name);
  std::string line;
  for (size_t i = 0; i < first + n && std::getline(in, line); ++i) {
    if (i < first) continue;
    if (!relabel.empty()) {
      auto j = nlohmann::json::parse(line);
      j["label"] = relabel.at(j["label"].get<std::string>());
      line = j.dump();
    }
    out << line << "\n";
  }
  return dir / name;
}

size_t count_lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

std::string convert(const std::string& fixture, const TempDir& tmp) {
  const std::string out = tmp / (fixture + ".kiln");
  const auto r = run_kiln("convert " + kRefs + fixture + " -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

std::vector<std::string> strings(const nlohmann::json& j) {
  return j.get<std::vector<std::string>>();
}

// ---- kiln convert ----

struct HubShape {
  const char* fixture;
  const char* stored_architecture;
  const char* summary;  // what `kiln inspect` says about the pooler
  std::vector<std::string> dropped;
};

void PrintTo(const HubShape& c, std::ostream* os) {
  *os << c.fixture;
}

class ConvertHubShapes : public ::testing::TestWithParam<HubShape> {};

TEST_P(ConvertHubShapes, KeepsEveryEncoderTensorBitIdenticalAndNamesTheDroppedHead) {
  const HubShape& c = GetParam();
  const std::string dir = kRefs + c.fixture;
  if (!fs::exists(dir)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const auto r = run_kiln("convert " + dir + " -o " + (tmp / "m.kiln"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // One line on stderr names every dropped tensor.
  EXPECT_EQ(count_lines_with(r.output, "dropped"), 1u) << r.output;
  for (const auto& name : c.dropped) EXPECT_NE(r.output.find(name), std::string::npos) << name;

  const nn::ModelFile mf = nn::read_model_file(tmp / "m.kiln");
  EXPECT_EQ(mf.config["architectures"][0], c.stored_architecture);
  EXPECT_EQ(strings(mf.provenance["dropped_tensors"]), c.dropped);
  // Every other checkpoint tensor is stored, without the encoder prefix, with the same bits.
  const nn::HfCheckpoint ck = nn::read_hf_checkpoint(dir);
  const std::string prefix = ck.config["model_type"].get<std::string>() + ".";
  size_t compared = 0;
  for (const auto& [name, want] : ck.tensors) {
    if (std::find(c.dropped.begin(), c.dropped.end(), name) != c.dropped.end()) continue;
    ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
    const std::string stored = name.substr(prefix.size());
    // The position_ids buffer may be rebuilt rather than stored.
    if (name.find("position_ids") != std::string::npos && !mf.tensors.count(stored)) continue;
    ASSERT_TRUE(mf.tensors.count(stored)) << stored;
    const Tensor& got = mf.tensors.at(stored);
    ASSERT_EQ(got.shape(), want.shape()) << stored;
    ASSERT_EQ(got.dtype(), want.dtype()) << stored;
    if (is_floating(want.dtype()))
      EXPECT_EQ(got.to_floats(), want.to_floats()) << stored;
    else
      EXPECT_EQ(got.to_ints(), want.to_ints()) << stored;
    ++compared;
  }
  EXPECT_EQ(compared, mf.tensors.size());

  const auto inspect = run_kiln("inspect --summary " + (tmp / "m.kiln"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find(std::string(c.stored_architecture) + " (" + c.summary),
            std::string::npos)
      << inspect.output;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ConvertHubShapes,
    ::testing::Values(
        HubShape{
            "bert-mlm",
            "BertModel",
            "encoder without pooler",
            {"cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
             "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
             "cls.predictions.transform.dense.weight"}},
        HubShape{"roberta-mlm",
                 "RobertaModel",
                 "encoder without pooler",
                 {"lm_head.bias", "lm_head.dense.bias", "lm_head.dense.weight",
                  "lm_head.layer_norm.bias", "lm_head.layer_norm.weight"}},
        HubShape{"distilbert-mlm",
                 "DistilBertModel",
                 "encoder without pooler",
                 {"vocab_layer_norm.bias", "vocab_layer_norm.weight", "vocab_projector.bias",
                  "vocab_transform.bias", "vocab_transform.weight"}},
        HubShape{"bert-pretraining",
                 "BertModel",
                 "encoder with pooler",
                 {"cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
                  "cls.predictions.transform.LayerNorm.weight",
                  "cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight",
                  "cls.seq_relationship.bias", "cls.seq_relationship.weight"}}),
    [](const auto& info) {
      std::string s = info.param.fixture;
      std::replace(s.begin(), s.end(), '-', '_');
      return s;
    });

TEST(ConvertCli, ABareModelConvertsWithNothingDropped) {
  if (!fs::exists(kRefs + "roberta-model")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const auto r = run_kiln("convert " + kRefs + "roberta-model -o " + (tmp / "m.kiln"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("dropped"), std::string::npos) << r.output;
  EXPECT_EQ(nn::read_model_file(tmp / "m.kiln").config["architectures"][0], "RobertaModel");
}

TEST(ConvertCli, AnUnexpectedTensorBesideAMaskedLmHeadIsStillAnError) {
  const std::string src = kRefs + "bert-mlm";
  if (!fs::exists(src)) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string dir = tmp / "ckpt";
  fs::create_directory(dir);
  for (const char* f :
       {"config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"})
    fs::copy_file(src + "/" + f, dir + "/" + f);
  nn::StateDict tensors = nn::load_safetensors(src + "/model.safetensors");
  tensors["bert.adapter.weight"] = Tensor::zeros({2});
  nn::save_safetensors(dir + "/model.safetensors", tensors);
  const auto r = run_kiln("convert " + dir + " -o " + (tmp / "m.kiln"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("unexpected: adapter.weight"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "m.kiln"));
}

// ---- the real scenario: convert, fine-tune with new labels, eval, classify ----

struct Scenario {
  const char* fixture;
  // Epochs and learning rate at which the tiny fixture's predictions vary between texts (with less,
  // both settle on one class: the agreement below would still hold, but trivially).
  const char* recipe;
  std::vector<std::string> newly_initialized, dropped, dropped_when_converted;
};

void PrintTo(const Scenario& s, std::ostream* os) {
  *os << s.fixture;
}

class FinetuneScenario : public ::testing::TestWithParam<Scenario> {};

TEST_P(FinetuneScenario, ConvertTrainEvalAndClassifyAgree) {
  const Scenario& s = GetParam();
  if (!have({kRefs + s.fixture, kAgNews})) GTEST_SKIP() << "fixtures or data not present";
  TempDir tmp;
  const std::string model = convert(s.fixture, tmp);
  const std::string train = rows(kAgNews, 0, 400, tmp, "train.jsonl");
  const std::string eval = rows(kAgNews, 1000, 120, tmp, "eval.jsonl");
  const std::string run = tmp / "run";
  const auto r = run_kiln("train --task sequence-classification --model " + model + " --train " +
                          train + " --eval " + eval + " --output " + run + " " + s.recipe +
                          " --max-length 32 --per-device-batch-size 16 --warmup-ratio 0.1"
                          " --threads 2 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // transformers' "newly initialized" warning, once.
  EXPECT_EQ(count_lines_with(r.output, "newly initialised"), 1u) << r.output;
  for (const auto& n : s.newly_initialized) EXPECT_NE(r.output.find(n), std::string::npos) << n;

  const auto manifest = read_json(run + "/manifest.json");
  ASSERT_TRUE(manifest.contains("model_init")) << manifest.dump();
  EXPECT_EQ(strings(manifest["model_init"]["newly_initialized"]), s.newly_initialized);
  EXPECT_EQ(strings(manifest["model_init"]["dropped"]), s.dropped);
  EXPECT_EQ(strings(manifest["model_init"]["dropped_when_converted"]), s.dropped_when_converted);
  const nn::ModelFile best = nn::read_model_file(run + "/best.kiln");
  EXPECT_EQ(best.config["id2label"]["0"], "Business");  // the data's labels, sorted
  EXPECT_EQ(best.config["id2label"].size(), 4u);

  // Training's per-epoch evaluation reports kiln eval's whole set: with the training's length
  // and batch size, kiln eval of best.kiln reproduces its epoch's record exactly.
  const auto records = read_jsonl(run + "/metrics.jsonl");
  nlohmann::json best_epoch;
  for (const auto& rec : records)
    if (rec.contains("eval") && rec["epoch"] == best.provenance["epoch"]) best_epoch = rec["eval"];
  ASSERT_TRUE(best_epoch.is_object());
  for (const char* key : {"loss", "accuracy", "macro_f1", "per_class", "confusion_matrix"})
    EXPECT_TRUE(best_epoch.contains(key)) << key;
  const auto same = run_kiln("eval -m " + run + "/best.kiln --task sequence-classification -i " +
                                 eval + " --max-length 32 --batch-size 16 --threads 2",
                             /*merge_stderr=*/false);
  ASSERT_EQ(same.exit_code, 0) << same.output;
  nlohmann::json same_json = nlohmann::json::parse(same.output);
  for (const char* key : {"model", "input", "task"}) same_json.erase(key);
  EXPECT_EQ(same_json, best_epoch);

  // kiln eval at the model's full length, as classify truncates.
  const auto ev = run_kiln(
      "eval -m " + run + "/best.kiln --task sequence-classification -i " + eval + " --threads 2",
      /*merge_stderr=*/false);
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  const auto metrics = nlohmann::json::parse(ev.output);
  EXPECT_EQ(strings(metrics["labels"]), kAgLabels);
  EXPECT_EQ(metrics["examples"], 120);
  EXPECT_GT(metrics["loss"].get<double>(), 0.0);
  const auto matrix = metrics["confusion_matrix"].get<std::vector<std::vector<int64_t>>>();

  // kiln classify on the same file: the same confusion matrix, so the same accuracy.
  const auto cl = run_kiln("classify -m " + run + "/best.kiln -i " + eval + " --threads 2",
                           /*merge_stderr=*/false);
  ASSERT_EQ(cl.exit_code, 0) << cl.output;
  const auto predictions = parse_lines(cl.output);
  const auto gold = read_jsonl(eval);
  ASSERT_EQ(predictions.size(), gold.size());
  std::vector<std::vector<int64_t>> from_classify(4, std::vector<int64_t>(4, 0));
  auto id = [](const std::string& label) {
    return std::find(kAgLabels.begin(), kAgLabels.end(), label) - kAgLabels.begin();
  };
  int64_t right = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    const std::string g = gold[i]["label"], p = predictions[i]["label"];
    ++from_classify[id(g)][id(p)];
    right += g == p;
  }
  EXPECT_EQ(from_classify, matrix);
  EXPECT_EQ(static_cast<double>(right) / static_cast<double>(gold.size()),
            metrics["accuracy"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FinetuneScenario,
    ::testing::Values(Scenario{"roberta-model",
                               "--epochs 3 --learning-rate 2e-3",
                               {"classifier.dense.bias", "classifier.dense.weight",
                                "classifier.out_proj.bias", "classifier.out_proj.weight"},
                               {"pooler.dense.bias",
                                "pooler.dense.weight"},  // RobertaForSeq... has none
                               {}},
                      Scenario{"bert-mlm",
                               "--epochs 5 --learning-rate 3e-3",
                               {"bert.pooler.dense.bias", "bert.pooler.dense.weight",
                                "classifier.bias", "classifier.weight"},
                               {},
                               {"cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
                                "cls.predictions.transform.LayerNorm.weight",
                                "cls.predictions.transform.dense.bias",
                                "cls.predictions.transform.dense.weight"}}),
    [](const auto& info) {
      std::string s = info.param.fixture;
      std::replace(s.begin(), s.end(), '-', '_');
      return s;
    });

// ---- the labels of a fresh head, and replacing a head ----

class FreshHead : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have({kRefs + "bert-mlm", kAgNews})) GTEST_SKIP() << "fixtures or data not present";
    model_ = convert("bert-mlm", tmp_);
    train_ = rows(kAgNews, 0, 24, tmp_, "train.jsonl");
  }
  RunResult train(const std::string& extra, const std::string& out, const std::string& model = "") {
    return run_kiln("train --task sequence-classification --model " +
                    (model.empty() ? model_ : model) + " --train " + train_ + " --output " +
                    (tmp_ / out) + " --epochs 1 --max-length 24 --threads 1 " + extra);
  }
  std::vector<std::string> labels_of(const std::string& out) {
    const auto config = nn::read_model_file(tmp_ / (out + "/best.kiln")).config;
    std::vector<std::string> labels(config["id2label"].size());
    for (auto it = config["id2label"].begin(); it != config["id2label"].end(); ++it)
      labels[std::stoul(it.key())] = it.value();
    return labels;
  }
  TempDir tmp_;
  std::string model_, train_;
};

TEST_F(FreshHead, LabelsFlagSetsTheOrderAndNumLabelsMustAgree) {
  auto r = train("--labels World,Sports,Business,Sci/Tech", "ordered");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(labels_of("ordered"),
            (std::vector<std::string>{"World", "Sports", "Business", "Sci/Tech"}));
  r = train("--num-labels 4", "four");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(labels_of("four"), kAgLabels);

  r = train("--num-labels 3", "three");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--num-labels 3 but"), std::string::npos) << r.output;
  r = train("--labels a,b --num-labels 3", "mixed");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = train("--labels World,World", "twice");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // A label of the data outside --labels: the file and line that has it.
  r = train("--labels World,Sports,Sci/Tech", "missing");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("train.jsonl:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"Business\""), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp_ / "missing/manifest.json"));
}

TEST_F(FreshHead, AMatchingHeadFineTunesAsBeforeAndReinitHeadReplacesOne) {
  ASSERT_EQ(train("", "first").exit_code, 0);
  const std::string trained = tmp_ / "first/best.kiln";

  // The head matches the data: fine-tuned as it is, nothing new.
  auto r = train("", "again", trained);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("newly initialised"), std::string::npos) << r.output;
  EXPECT_FALSE(read_json(tmp_ / "again/manifest.json").contains("model_init"));

  // Other labels: refused with a pointer to --reinit-head ...
  const std::map<std::string, std::string> two = {
      {"World", "news"}, {"Sports", "other"}, {"Business", "news"}, {"Sci/Tech", "other"}};
  const std::string other = rows(kAgNews, 0, 24, tmp_, "two.jsonl", two);
  const std::string base = "train --task sequence-classification --model " + trained + " --train " +
                           other + " --epochs 1 --max-length 24 --threads 1";
  r = run_kiln(base + " --output " + (tmp_ / "refused"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("two.jsonl:1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--reinit-head"), std::string::npos) << r.output;
  r = run_kiln(base + " --labels news,other --output " + (tmp_ / "refused2"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--reinit-head"), std::string::npos) << r.output;

  // ... and replaced with it: the old classifier is dropped, a new one made (the pooler stays).
  r = run_kiln(base + " --reinit-head --output " + (tmp_ / "reinit"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto init = read_json(tmp_ / "reinit/manifest.json")["model_init"];
  const std::vector<std::string> classifier = {"classifier.bias", "classifier.weight"};
  EXPECT_EQ(strings(init["newly_initialized"]), classifier);
  EXPECT_EQ(strings(init["dropped"]), classifier);
  EXPECT_EQ(labels_of("reinit"), (std::vector<std::string>{"news", "other"}));

  // Another task's head is refused without --reinit-head and replaced with it.
  const std::string tags = tmp_ / "tags.jsonl";
  std::ofstream(tags) << R"({"tokens": ["a", "b"], "bio_tags": ["B-X", "O"]})"
                      << "\n";
  const std::string tag_base = "train --task token-classification --model " + trained +
                               " --train " + tags + " --epochs 1 --threads 1";
  r = run_kiln(tag_base + " --output " + (tmp_ / "tag-refused"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--reinit-head"), std::string::npos) << r.output;
  r = run_kiln(tag_base + " --reinit-head --output " + (tmp_ / "tag"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(strings(read_json(tmp_ / "tag/manifest.json")["model_init"]["newly_initialized"]),
            classifier);

  // --reinit-head means replacing a model's head: training from a config has none.
  r = run_kiln("train --task sequence-classification --config " + kRefs +
               "bert-mlm/config.json --tokenizer " + kRefs + "bert-mlm --train " + train_ +
               " --reinit-head --output " + (tmp_ / "cfg"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

// ---- kiln eval on hand-computed cases ----

// A model whose classifier ignores the text: zero weight, the given bias; so every prediction,
// the confusion matrix and the loss follow from the bias alone.
std::string constant_head(const std::string& fixture, const std::vector<float>& bias,
                          const TempDir& tmp) {
  const std::string path = convert(fixture, tmp);
  nn::ModelFile mf = nn::read_model_file(path);
  const auto& w = mf.tensors.at("classifier.weight");
  mf.tensors["classifier.weight"] = Tensor::zeros(w.shape());
  mf.tensors["classifier.bias"] = Tensor::from_vector(std::vector<double>(bias.begin(), bias.end()),
                                                      {static_cast<int64_t>(bias.size())});
  const std::string out = tmp / (fixture + "-constant.kiln");
  nn::write_model_file(out, mf);
  return out;
}

TEST(EvalCli, ClassificationMetricsOfAKnownCase) {
  if (!fs::exists(kRefs + "bert-seqcls")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  // Labels negative, positive; the head always says positive, with logits (0, 2).
  const std::string model = constant_head("bert-seqcls", {0.0f, 2.0f}, tmp);
  std::ofstream(tmp / "e.jsonl") << R"({"text": "bad", "label": "negative"}
{"text": "good", "label": "positive"}
{"text": "fine", "label": "positive"}
{"text": "awful", "label": "negative"}
{"text": "dull", "label": "negative"}
)";
  const auto r =
      run_kiln("eval -m " + model + " --task sequence-classification -i " + (tmp / "e.jsonl"),
               /*merge_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = nlohmann::json::parse(r.output);
  EXPECT_EQ(strings(m["labels"]), (std::vector<std::string>{"negative", "positive"}));
  EXPECT_EQ(m["confusion_matrix"], nlohmann::json::parse("[[0, 3], [0, 2]]"));
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), 0.4);
  const double f1_pos = 2 * 0.4 * 1.0 / 1.4;
  EXPECT_NEAR(m["per_class"]["positive"]["precision"].get<double>(), 0.4, 1e-12);
  EXPECT_NEAR(m["per_class"]["positive"]["recall"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(m["per_class"]["positive"]["f1"].get<double>(), f1_pos, 1e-12);
  EXPECT_EQ(m["per_class"]["positive"]["support"], 2);
  EXPECT_EQ(m["per_class"]["negative"]["f1"], 0.0);
  EXPECT_EQ(m["per_class"]["negative"]["support"], 3);
  EXPECT_NEAR(m["macro_f1"].get<double>(), f1_pos / 2, 1e-12);
  // -log softmax: log(1 + e^2) for the 3 negatives, log(1 + e^-2) for the 2 positives.
  const double loss = (3 * std::log1p(std::exp(2.0)) + 2 * std::log1p(std::exp(-2.0))) / 5;
  EXPECT_NEAR(m["loss"].get<double>(), loss, 1e-6);
  EXPECT_EQ(m["examples"], 5);
}

TEST(EvalCli, TaggingMetricsOfAKnownCaseIncludeSeqevalEntities) {
  if (!fs::exists(kRefs + "bert-tokcls")) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  // Labels O, B-KEY, I-KEY; every word is tagged B-KEY, with logits (0, 3, 0).
  const std::string model = constant_head("bert-tokcls", {0.0f, 3.0f, 0.0f}, tmp);
  std::ofstream(tmp / "t.jsonl")
      << R"({"tokens": ["a", "b", "c"], "bio_tags": ["B-KEY", "I-KEY", "O"]}
{"tokens": ["d", "e"], "bio_tags": ["O", "B-KEY"]}
)";
  const auto r =
      run_kiln("eval -m " + model + " --task token-classification -i " + (tmp / "t.jsonl"),
               /*merge_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = nlohmann::json::parse(r.output);
  // Entities: gold [a b], [e]; predicted [a] [b] [c] [d] [e]: 1 correct of 5, of 2.
  EXPECT_EQ(m["entities"], 2);
  EXPECT_EQ(m["predicted_entities"], 5);
  EXPECT_EQ(m["correct_entities"], 1);
  EXPECT_NEAR(m["precision"].get<double>(), 0.2, 1e-12);
  EXPECT_NEAR(m["recall"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(m["f1"].get<double>(), 2 * 0.2 * 0.5 / 0.7, 1e-12);
  EXPECT_NEAR(m["entity_types"]["KEY"]["f1"].get<double>(), 2 * 0.2 * 0.5 / 0.7, 1e-12);
  EXPECT_EQ(m["entity_types"]["KEY"]["support"], 2);
  // Words: rows gold O, B-KEY, I-KEY; every column but B-KEY empty.
  EXPECT_EQ(strings(m["labels"]), (std::vector<std::string>{"O", "B-KEY", "I-KEY"}));
  EXPECT_EQ(m["confusion_matrix"], nlohmann::json::parse("[[0, 2, 0], [0, 2, 0], [0, 1, 0]]"));
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), 0.4);
  const double f1_b = 2 * 0.4 * 1.0 / 1.4;
  EXPECT_NEAR(m["per_class"]["B-KEY"]["f1"].get<double>(), f1_b, 1e-12);
  EXPECT_EQ(m["per_class"]["I-KEY"]["support"], 1);
  EXPECT_NEAR(m["macro_f1"].get<double>(), f1_b / 3, 1e-12);
  // Loss over the 5 scored first sub-tokens: 2 gold B-KEY, 3 gold O or I-KEY.
  const double log_z = std::log(2 + std::exp(3.0));
  EXPECT_NEAR(m["loss"].get<double>(), (2 * (log_z - 3) + 3 * log_z) / 5, 1e-6);
  EXPECT_EQ(m["words"], 5);
}

TEST(EvalCli, BadInputsGetClearErrors) {
  if (!have({kRefs + "bert-seqcls", kRefs + "bert-mlm"})) GTEST_SKIP() << "fixtures not present";
  TempDir tmp;
  const std::string model = convert("bert-seqcls", tmp);
  std::ofstream(tmp / "e.jsonl") << R"({"text": "bad", "label": "negative"}
{"text": "good", "label": "positive"}
{"text": "so so", "label": "neutral"}
)";
  const std::string input = tmp / "e.jsonl";
  // A label the model does not have: the file and line.
  auto r = run_kiln("eval -m " + model + " --task sequence-classification -i " + input);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("e.jsonl:3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("neutral"), std::string::npos) << r.output;
  // A model whose head is for another task, or that has none.
  r = run_kiln("eval -m " + model + " --task token-classification -i " + input);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("kiln eval needs token classification"), std::string::npos) << r.output;
  r = run_kiln("eval -m " + convert("bert-mlm", tmp) + " --task sequence-classification -i " +
               input);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no task head"), std::string::npos) << r.output;
  // Usage errors.
  r = run_kiln("eval -m " + model + " --task translation -i " + input);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_kiln("eval -m " + model + " --task sequence-classification");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_kiln("eval -m " + model + " --task sequence-classification -i " + input +
               " --batch-size 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_kiln("eval -m " + model + " --task sequence-classification -i " + tmp / "none.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.output;
}

}  // namespace
}  // namespace kiln::testing
