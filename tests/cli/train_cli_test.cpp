// `kiln train` end to end on tiny models (hidden 16, one layer) so each run takes about a second.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/sha256.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShared = KILN_SHARED_DIR;
const std::string kTokenizer = kShared + "/tokenizers/bert-base-cased";
const std::string kInspec = kShared + "/data/inspec/";

bool have_data() {
  return fs::exists(kTokenizer) && fs::exists(kInspec + "inspec_train.jsonl") &&
         fs::exists(kShared + "/data/sst2/train.jsonl");
}

// The first n lines of a file, rewritten (optionally renaming a field) into dir/name.
std::string head(const std::string& src, size_t n, const TempDir& dir, const std::string& name,
                 const std::string& from = "", const std::string& to = "") {
  std::ifstream in(src);
  std::ofstream out(dir / name);
  std::string line;
  for (size_t i = 0; i < n && std::getline(in, line); ++i) {
    if (!from.empty()) {
      nlohmann::json j = nlohmann::json::parse(line);
      j[to] = j[from];
      line = j.dump();
    }
    out << line << "\n";
  }
  return dir / name;
}

std::string tiny_config(const TempDir& dir) {
  std::ofstream(dir / "config.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128})";
  return dir / "config.json";
}

std::string tagging_args(const TempDir& dir, const std::string& train, const std::string& out) {
  return "train --task token-classification --train " + train + " --output " + out + " --config " +
         tiny_config(dir) + " --tokenizer " + kTokenizer +
         " --max-length 48 --learning-rate 1e-3 --threads 1 --seed 3";
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TrainCli, TagsInspecAndTheBestModelWorksWithKilnTag) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 50, tmp, "train.jsonl");
  const auto eval = head(kInspec + "inspec_validation.jsonl", 12, tmp, "eval.jsonl");
  const std::string run = tmp / "run";
  auto r = run_kiln(tagging_args(tmp, train, run) + " --eval " + eval +
                    " --epochs 2 --per-device-batch-size 8 --gradient-accumulation-steps 2"
                    " --warmup-ratio 0.2 --lr-scheduler cosine --class-weights auto"
                    " --label-smoothing 0.05 --weight-decay 0.01 --logging-steps 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"manifest.json", "metrics.jsonl", "plot.svg", "best.kiln",
                        "checkpoint/checkpoint.safetensors"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;

  // 50 examples / batch 8 = 7 micro-batches = 4 updates per epoch.
  const auto records = read_jsonl(run + "/metrics.jsonl");
  int steps = 0, evals = 0;
  for (const auto& j : records) {
    if (j.contains("eval")) {
      ++evals;
      for (const char* k : {"f1", "precision", "recall", "accuracy"})
        EXPECT_TRUE(j["eval"][k].is_number()) << j;
    } else {
      ++steps;
      for (const char* k : {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s"})
        EXPECT_TRUE(j[k].is_number()) << k << " in " << j;
    }
  }
  EXPECT_EQ(steps, 8);
  EXPECT_EQ(evals, 2);
  EXPECT_DOUBLE_EQ(records.front()["lr"].get<double>(), 0.0);  // first warm-up update

  std::ifstream mf(run + "/manifest.json");
  const auto manifest = nlohmann::json::parse(mf);
  EXPECT_EQ(manifest["data"]["train"]["sha256"], sha256_file(train));
  EXPECT_EQ(manifest["data"]["eval"]["sha256"], sha256_file(eval));
  EXPECT_EQ(manifest["options"]["lr-scheduler"], "cosine");
  EXPECT_EQ(manifest["threads"], 1);
  EXPECT_EQ(manifest["resolved"]["warmup_steps"], 2);  // ceil(0.2 * 8)
  EXPECT_EQ(manifest["model_config"]["id2label"]["0"], "O");
  EXPECT_TRUE(manifest.contains("cpu_features"));
  EXPECT_TRUE(manifest.contains("kiln_version"));

  std::stringstream svg;
  svg << std::ifstream(run + "/plot.svg").rdbuf();
  EXPECT_EQ(svg.str().rfind("<svg", 0), 0u);
  EXPECT_NE(svg.str().find("<polyline"), std::string::npos);

  const auto words = head(eval, 3, tmp, "words.jsonl", "tokens", "words");
  auto tag = run_kiln("tag -m " + run + "/best.kiln -i " + words, false);
  ASSERT_EQ(tag.exit_code, 0) << tag.output;
  std::istringstream lines(tag.output);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["labels"].size(), j["words"].size());
    for (const auto& l : j["labels"]) EXPECT_TRUE(l == "O" || l == "B-KEY" || l == "I-KEY") << l;
    ++n;
  }
  EXPECT_EQ(n, 3);
  // A second run into the same directory is refused rather than overwriting it.
  auto again = run_kiln(tagging_args(tmp, train, run));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already holds a training run"), std::string::npos) << again.output;
}

TEST(TrainCli, ClassifiesSst2AndTheBestModelWorksWithKilnClassify) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kShared + "/data/sst2/train.jsonl", 40, tmp, "train.jsonl");
  const auto eval = head(kShared + "/data/sst2/dev.jsonl", 10, tmp, "eval.jsonl");
  const std::string run = tmp / "run";
  auto r = run_kiln("train --task sequence-classification --train " + train + " --eval " + eval +
                    " --output " + run + " --config " + tiny_config(tmp) + " --tokenizer " +
                    kTokenizer + " --epochs 1 --threads 1 --metric macro_f1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto records = read_jsonl(run + "/metrics.jsonl");
  ASSERT_FALSE(records.empty());
  EXPECT_TRUE(records.back()["eval"]["macro_f1"].is_number());
  auto cls = run_kiln("classify -m " + run + "/best.kiln -i " + eval, false);
  ASSERT_EQ(cls.exit_code, 0) << cls.output;
  EXPECT_NE(cls.output.find("\"label\":\"1\""), std::string::npos)
      << "integer labels are named \"0\", \"1\": " << cls.output;
}

// Two epochs in one go and one epoch + --resume + one epoch must end with identical weights,
// optimizer moments and train state (dropout is on, so the generator states matter).
TEST(TrainCli, ResumeContinuesBitExactly) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 24, tmp, "train.jsonl");
  const auto eval = head(kInspec + "inspec_validation.jsonl", 6, tmp, "eval.jsonl");
  const std::string common = " --eval " + eval + " --epochs 2 --per-device-batch-size 4";
  auto straight = run_kiln(tagging_args(tmp, train, tmp / "a") + common);
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  auto first = run_kiln(tagging_args(tmp, train, tmp / "b") + common + " --stop-after-epochs 1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto after_one = nn::load_safetensors(tmp / "b/checkpoint/checkpoint.safetensors");
  auto bad = run_kiln("train --resume " + (tmp / "b") + " --learning-rate 1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  auto resumed = run_kiln("train --resume " + (tmp / "b") + " --threads 1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;

  std::map<std::string, std::string> meta_a, meta_b;
  const auto a = nn::load_safetensors(tmp / "a/checkpoint/checkpoint.safetensors", &meta_a);
  const auto b = nn::load_safetensors(tmp / "b/checkpoint/checkpoint.safetensors", &meta_b);
  ASSERT_EQ(a.size(), b.size());
  size_t changed_in_epoch_two = 0;
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.nbytes(), u.nbytes()) << name;
    EXPECT_EQ(std::memcmp(t.contiguous().raw_data(), u.contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs after resume";
    const Tensor& mid = after_one.at(name);
    changed_in_epoch_two +=
        std::memcmp(t.contiguous().raw_data(), mid.contiguous().raw_data(), t.nbytes()) != 0;
  }
  EXPECT_GT(changed_in_epoch_two, a.size() / 2);  // epoch two did train
  EXPECT_EQ(meta_a["kiln.train_state"], meta_b["kiln.train_state"]);

  // Stopping mid-epoch (6 updates per epoch): after update 3, then after update 8 (in epoch two),
  // then to the end, with extra --save-steps checkpoints on the way.
  auto c1 = run_kiln(tagging_args(tmp, train, tmp / "c") + common +
                     " --save-steps 2 --stop-after-steps 3");
  ASSERT_EQ(c1.exit_code, 0) << c1.output;
  auto c2 = run_kiln("train --resume " + (tmp / "c") + " --stop-after-steps 5");
  ASSERT_EQ(c2.exit_code, 0) << c2.output;
  std::map<std::string, std::string> meta_c;
  nn::load_safetensors(tmp / "c/checkpoint/checkpoint.safetensors", &meta_c);
  const auto mid = nlohmann::json::parse(meta_c["kiln.train_state"]);
  EXPECT_EQ(mid["global_step"], 8);
  EXPECT_EQ(mid["epoch"], 1);
  EXPECT_EQ(mid["position"], 2);
  auto c3 = run_kiln("train --resume " + (tmp / "c"));
  ASSERT_EQ(c3.exit_code, 0) << c3.output;
  const auto c = nn::load_safetensors(tmp / "c/checkpoint/checkpoint.safetensors", &meta_c);
  for (const auto& [name, t] : a)
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), c.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs after mid-epoch resumes";
  EXPECT_EQ(meta_a["kiln.train_state"], meta_c["kiln.train_state"]);
  // metrics.jsonl has no duplicated steps from the interrupted sessions.
  std::set<int64_t> steps;
  for (const auto& j : read_jsonl(tmp / "c/metrics.jsonl"))
    if (!j.contains("eval")) {
      EXPECT_TRUE(steps.insert(j["step"].get<int64_t>()).second) << j;
    }
}

TEST(TrainCli, EarlyStoppingKeepsTheBestEpoch) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 8, tmp, "train.jsonl");
  const auto eval = head(kInspec + "inspec_validation.jsonl", 4, tmp, "eval.jsonl");
  const std::string run = tmp / "run";
  // With a zero learning rate the metric never improves after epoch 1: patience 1 stops at 2.
  auto r = run_kiln(tagging_args(tmp, train, run) + " --eval " + eval +
                    " --epochs 5 --learning-rate 0 --patience 1 --metric accuracy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int evals = 0;
  for (const auto& j : read_jsonl(run + "/metrics.jsonl")) evals += j.contains("eval");
  EXPECT_EQ(evals, 2);
  EXPECT_NE(r.output.find("2 epochs, best accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(epoch 1)"), std::string::npos) << r.output;
  auto bad = run_kiln(tagging_args(tmp, train, tmp / "r2") + " --eval " + eval + " --metric bleu");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("--metric 'bleu'"), std::string::npos) << bad.output;
}

struct BadCase {
  std::string name, content, expected;
};

TEST(TrainCli, BadDataStopsBeforeTrainingWithFileLineAndReason) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const std::string ok = R"({"tokens": ["Deep", "learning"], "bio_tags": ["B-KEY", "I-KEY"]})";
  const std::vector<BadCase> cases = {
      {"missing_field", ok + "\n" + R"({"tokens": ["a"]})" + "\n",
       ":2: missing field \"bio_tags\""},
      {"length_mismatch", ok + "\n" + ok + "\n" + R"({"tokens": ["a", "b"], "bio_tags": ["O"]})",
       ":3: 2 words but 1 tags"},
      {"malformed", ok + "\n" + R"({"tokens": ["a"], "bio_tags": )" + "\n",
       ":2: malformed JSON line"}};
  for (const auto& c : cases) {
    const std::string path = tmp / (c.name + ".jsonl");
    std::ofstream(path) << c.content;
    const std::string run = tmp / ("run_" + c.name);
    auto r = run_kiln(tagging_args(tmp, path, run));
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(path + c.expected), std::string::npos) << c.name << ": " << r.output;
    EXPECT_FALSE(fs::exists(run)) << c.name << ": a run directory was left behind";
  }
  // A label the model does not have (fine-tuning the converted O/B-KEY/I-KEY reference model).
  const std::string ref = kShared + "/refs/models/bert-tokcls";
  if (!fs::exists(ref)) return;
  ASSERT_EQ(run_kiln("convert " + ref + " -o " + (tmp / "m.kiln")).exit_code, 0);
  const std::string path = tmp / "unknown.jsonl";
  std::ofstream(path) << ok << "\n"
                      << R"({"tokens": ["Paris"], "bio_tags": ["B-LOC"]})"
                      << "\n";
  auto r = run_kiln("train --task token-classification --train " + path + " --output " +
                    (tmp / "run_unknown") + " --model " + (tmp / "m.kiln") + " --threads 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":2: label \"B-LOC\" is not one of the model's labels"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "run_unknown"));
  // The same model fine-tunes on good data.
  std::ofstream(path) << ok << "\n";
  auto good =
      run_kiln("train --task token-classification --train " + path + " --output " +
               (tmp / "run_ok") + " --model " + (tmp / "m.kiln") + " --epochs 1 --threads 1");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  // The wrong task for the model's head is refused.
  const std::string texts = tmp / "texts.jsonl";
  std::ofstream(texts) << R"({"text": "good", "label": "O"})"
                       << "\n";
  auto wrong = run_kiln("train --task sequence-classification --train " + texts + " --output " +
                        (tmp / "run_wrong") + " --model " + (tmp / "m.kiln"));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("not a BertForSequenceClassification"), std::string::npos)
      << wrong.output;
}

TEST(TrainCli, RefusesNonFiniteOrNegativeRatesAndWeightsUpFront) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 8, tmp, "train.jsonl");
  for (const std::string bad :
       {"--learning-rate nan", "--learning-rate inf", "--learning-rate -1e-3", "--weight-decay nan",
        "--class-weights 1,nan,1", "--class-weights 1,-2,1", "--max-grad-norm inf",
        "--label-smoothing nan"}) {
    const auto r = run_kiln(tagging_args(tmp, train, tmp / "run") + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
    const std::string flag = bad.substr(0, bad.find(' '));
    EXPECT_NE(r.output.find(flag), std::string::npos) << bad << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(tmp / "run")) << bad;
  }
}

TEST(TrainCli, DropoutOutsideZeroOneNamesTheConfigField) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 8, tmp, "train.jsonl");
  std::ofstream(tmp / "bad.json")
      << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 128, "hidden_dropout_prob": 1.0})";
  const auto r =
      run_kiln("train --task token-classification --train " + train + " -o " + (tmp / "run") +
               " --config " + (tmp / "bad.json") + " --tokenizer " + kTokenizer + " --threads 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("hidden_dropout_prob"), std::string::npos) << r.output;
}

TEST(TrainCli, ANonFiniteLossStopsTrainingNamingTheUpdate) {
  if (!have_data()) GTEST_SKIP();
  TempDir tmp;
  const auto train = head(kInspec + "inspec_train.jsonl", 16, tmp, "train.jsonl");
  // A learning rate this large overflows the weights within a few updates.
  const auto r = run_kiln(tagging_args(tmp, train, tmp / "run") +
                          " --learning-rate 1e30 --max-grad-norm 0 --epochs 20"
                          " --per-device-batch-size 4");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("training stopped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("update "), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kiln::testing
