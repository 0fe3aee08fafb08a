// Run tracking end to end: the system figures in metrics.jsonl, data md5s in the manifest, and
// `kiln runs` (list, compare, report) on tiny classifier runs (hidden 8, one layer: about a second
// each). The report is also rendered in headless Chromium where it is installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "data/file_hashes.h"
#include "data/image_decode.h"
#include "tests/cli/cli_util.h"
#include "train/run_lock.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const std::string kTokenizer = std::string(KILN_SHARED_DIR) + "/tokenizers/bert-base-cased";

// Sentences whose label is whether they mention "good": learnable, and made here.
std::string write_texts(const TempDir& dir, const std::string& name, int n) {
  std::ofstream out(dir / name);
  const char* words[] = {"good", "plain", "film", "story", "actors", "dull"};
  for (int i = 0; i < n; ++i) {
    const bool good = i % 2 == 0;
    out << nlohmann::json{{"text", std::string(good ? "good " : "dull ") + words[i % 6] + " " +
                                       words[(i * 5 + 1) % 6]},
                          {"label", good ? 1 : 0}}
               .dump()
        << "\n";
  }
  return dir / name;
}

// A tiny sequence-classification run into dir/name; `extra` adds or overrides flags.
RunResult train_run(const TempDir& dir, const std::string& name, const std::string& extra = "") {
  if (!fs::exists(dir / "config.json"))
    std::ofstream(dir / "config.json")
        << R"({"model_type": "bert", "vocab_size": 28996, "hidden_size": 8,
               "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
               "max_position_embeddings": 32, "num_labels": 2})";
  const std::string train = write_texts(dir, "train.jsonl", 24);
  const std::string eval = write_texts(dir, "eval.jsonl", 8);
  return run_kiln("train --task sequence-classification --config " + (dir / "config.json") +
                  " --tokenizer " + kTokenizer + " --train " + train + " --eval " + eval +
                  " --output " + (dir / name) +
                  " --max-length 16 --per-device-batch-size 4 --epochs 2 --logging-steps 2"
                  " --learning-rate 1e-3 --threads 1 " +
                  extra);
}

std::vector<nlohmann::json> records(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(slurp(run + "/metrics.jsonl"));
  std::string line;
  while (std::getline(lines, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(RunsCli, MetricsHaveSystemFiguresAndTheManifestDataMd5) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "no tokenizer at " << kTokenizer;
  TempDir tmp;
  const auto r = train_run(tmp, "run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int steps = 0;
  double last_elapsed = 0;
  for (const auto& j : records(tmp / "run")) {
    ASSERT_TRUE(j["elapsed_s"].is_number()) << j;
    EXPECT_GE(j["elapsed_s"].get<double>(), last_elapsed);
    last_elapsed = j["elapsed_s"].get<double>();
    if (j.contains("eval")) continue;
    ++steps;
    for (const char* k :
         {"loss", "lr", "grad_norm", "tokens_per_s", "rss_mb", "peak_rss_mb", "cpu_percent"})
      EXPECT_TRUE(j[k].is_number()) << k << " in " << j;
    EXPECT_GT(j["rss_mb"].get<double>(), 1.0);
    EXPECT_GE(j["peak_rss_mb"].get<double>(), j["rss_mb"].get<double>() - 1.0);
    EXPECT_GE(j["cpu_percent"].get<double>(), 0.0);
  }
  EXPECT_EQ(steps, 6);  // 24 / 4 = 6 updates per epoch, logged every 2

  const auto manifest = nlohmann::json::parse(slurp(tmp / "run/manifest.json"));
  for (const char* split : {"train", "eval"}) {
    const auto h = data::hash_file(tmp / (std::string(split) + ".jsonl"));
    EXPECT_EQ(manifest["data"][split]["md5"], h.md5) << split;
    EXPECT_EQ(manifest["data"][split]["sha256"], h.sha256) << split;
    EXPECT_EQ(manifest["data"][split]["size"], h.size) << split;
  }
}

TEST(RunsCli, ResumeAddsUpTheTimeAndRefusesChangedData) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "no tokenizer at " << kTokenizer;
  TempDir tmp;
  ASSERT_EQ(train_run(tmp, "run", "--stop-after-steps 3").exit_code, 0);
  const double first_session = records(tmp / "run").back()["elapsed_s"].get<double>();
  auto r = run_kiln("train --resume " + (tmp / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto all = records(tmp / "run");
  double last = 0;
  for (const auto& j : all) {
    EXPECT_GE(j["elapsed_s"].get<double>(), last) << j;
    last = j["elapsed_s"].get<double>();
  }
  EXPECT_GE(last, first_session);
  EXPECT_EQ(all.back()["step"], 12);

  // The data a resumed run reads must be the data the run started with (sha256).
  ASSERT_EQ(train_run(tmp, "other", "--stop-after-steps 3").exit_code, 0);
  std::ofstream(tmp / "train.jsonl", std::ios::app) << R"({"text": "good extra", "label": 1})"
                                                    << "\n";
  r = run_kiln("train --resume " + (tmp / "other"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("changed since the run started"), std::string::npos) << r.output;
}

TEST(RunsCli, ListsRunsWithTheirStatus) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "no tokenizer at " << kTokenizer;
  TempDir tmp;
  ASSERT_EQ(train_run(tmp, "done").exit_code, 0);
  ASSERT_EQ(train_run(tmp, "paused", "--stop-after-steps 3").exit_code, 0);
  ASSERT_EQ(train_run(tmp, "broken", "--stop-after-steps 1").exit_code, 0);
  std::ofstream(tmp / "broken/FAILED") << "update 2: the loss is nan\n";
  ASSERT_EQ(train_run(tmp, "busy", "--stop-after-steps 1").exit_code, 0);
  fs::create_directories(tmp / "not-a-run");

  train::RunLock held(tmp / "busy");  // as a process training it would
  auto list = run_kiln("runs " + tmp.path() + " --json", false);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  const auto runs = nlohmann::json::parse(list.output);
  ASSERT_EQ(runs.size(), 4u) << runs;
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& r : runs) by_name[r["name"]] = r;
  EXPECT_EQ(by_name["done"]["status"], "finished");
  EXPECT_EQ(by_name["paused"]["status"], "stopped");
  EXPECT_EQ(by_name["broken"]["status"], "failed");
  EXPECT_EQ(by_name["broken"]["failure"], "update 2: the loss is nan");
  EXPECT_EQ(by_name["busy"]["status"], "running");
  const auto& done = by_name["done"];
  EXPECT_EQ(done["task"], "sequence-classification");
  EXPECT_EQ(done["model"], "config:bert");
  EXPECT_EQ(done["learning_rate"], "1e-3");
  EXPECT_EQ(done["epochs"], "2");
  EXPECT_EQ(done["batch_size"], "4");
  EXPECT_EQ(done["metric"], "accuracy");
  EXPECT_TRUE(done["best_metric"].is_number());
  EXPECT_TRUE(done["best_epoch"] == 1 || done["best_epoch"] == 2) << done;
  EXPECT_EQ(done["steps"], 12);
  EXPECT_GT(done["wall_s"].get<double>(), 0.0);

  // The table, from inside the directory (no DIR: the runs under the current directory).
  auto table = run_kiln("runs", false);  // the test's working directory holds no runs
  EXPECT_EQ(table.exit_code, 0) << table.output;
  table = run_kiln("runs " + (tmp / "done") + " " + (tmp / "paused"), false);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  std::istringstream lines(table.output);
  std::string header, first, second;
  std::getline(lines, header), std::getline(lines, first), std::getline(lines, second);
  for (const char* col : {"name", "task", "model", "lr", "epochs", "batch", "best", "status"})
    EXPECT_NE(header.find(col), std::string::npos) << header;
  EXPECT_EQ(first.rfind("done ", 0), 0u) << table.output;
  EXPECT_NE(first.find("finished"), std::string::npos) << first;
  EXPECT_NE(first.find("accuracy="), std::string::npos) << first;
  EXPECT_NE(second.find("stopped"), std::string::npos) << second;
}

TEST(RunsCli, CompareShowsTheDifferencesAndTheCurves) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "no tokenizer at " << kTokenizer;
  TempDir tmp;
  ASSERT_EQ(train_run(tmp, "a").exit_code, 0);
  ASSERT_EQ(train_run(tmp, "b", "--learning-rate 3e-3 --seed 7").exit_code, 0);
  auto r = run_kiln("runs compare " + (tmp / "a") + " " + (tmp / "b") + " --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto c = nlohmann::json::parse(r.output);
  EXPECT_EQ(c["params"]["options.learning-rate"], nlohmann::json({"1e-3", "3e-3"})) << c;
  EXPECT_EQ(c["params"]["options.seed"], nlohmann::json({"42", "7"})) << c;
  EXPECT_FALSE(c["params"].contains("options.epochs"));
  EXPECT_FALSE(c["params"].contains("data.train.md5"));  // the same data
  ASSERT_EQ(c["curves"].size(), 2u);
  EXPECT_EQ(c["curves"][0]["metric"], "accuracy");
  ASSERT_EQ(c["curves"][0]["epochs"].size(), 2u);
  EXPECT_TRUE(c["curves"][1]["epochs"][1]["eval"].is_number());
  EXPECT_TRUE(c["curves"][1]["epochs"][1]["train_loss"].is_number());

  r = run_kiln("runs compare " + (tmp / "a") + " " + (tmp / "b"), false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\noptions\\.learning-rate +1e-3 +3e-3\n")))
      << r.output;
  EXPECT_NE(r.output.find("a accuracy"), std::string::npos) << r.output;
  EXPECT_EQ(run_kiln("runs compare " + (tmp / "a")).exit_code, 2);
}

// The screenshot's pixels of the loss curve's colour (#0072B2), within a little anti-aliasing.
size_t curve_pixels(const std::string& png) {
  const data::Image img = data::decode_image_file(png);
  size_t n = 0;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x) {
      const uint8_t* p = img.pixel(x, y);
      n += std::abs(p[0] - 0x00) < 40 && std::abs(p[1] - 0x72) < 40 && std::abs(p[2] - 0xB2) < 40;
    }
  return n;
}

TEST(RunsCli, ReportIsOneSelfContainedPageAndRendersInChromium) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "no tokenizer at " << kTokenizer;
  TempDir tmp;
  ASSERT_EQ(train_run(tmp, "run").exit_code, 0);
  const std::string html_path = tmp / "report.html";
  auto r = run_kiln("runs report " + (tmp / "run") + " -o " + html_path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = slurp(html_path);
  for (const char* id : {"chart-loss", "chart-eval", "chart-lr", "chart-grad_norm",
                         "chart-tokens_per_s", "chart-rss_mb", "chart-cpu_percent"})
    EXPECT_NE(html.find(std::string("id='") + id + "'"), std::string::npos) << id;
  EXPECT_NE(html.find("<table id='params'>"), std::string::npos);
  EXPECT_NE(html.find("<pre id='manifest'>"), std::string::npos);
  EXPECT_NE(html.find("class='y-ticks'"), std::string::npos);
  EXPECT_EQ(html.find("no data"), std::string::npos);  // every chart has its figures
  // Self-contained: nothing is fetched.
  for (const char* ref : {"src=", "href=", "<script", "@import", "url("})
    EXPECT_EQ(html.find(ref), std::string::npos) << ref;

  if (std::system("command -v chromium >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "chromium is not installed (apt-get install chromium): the report was not "
                    "rendered in a browser";
  const std::string flags =
      "chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 "
      "--user-data-dir=" +
      (tmp / "profile") + " --window-size=1200,1400 ";
  const std::string log = tmp / "chromium.log";
  ASSERT_EQ(std::system((flags + "--dump-dom file://" + html_path + " > " + (tmp / "dom.html") +
                         " 2> " + log)
                            .c_str()),
            0)
      << slurp(log);
  const std::string dom = slurp(tmp / "dom.html");
  EXPECT_NE(dom.find("id=\"chart-loss\""), std::string::npos) << dom.substr(0, 500);
  EXPECT_NE(dom.find("<polyline"), std::string::npos);
  // Console messages (errors included) are logged as CONSOLE lines; a page error as Uncaught.
  const std::string console = slurp(log);
  EXPECT_EQ(console.find("CONSOLE"), std::string::npos) << console;
  EXPECT_EQ(console.find("Uncaught"), std::string::npos) << console;

  const std::string png = tmp / "report.png";
  ASSERT_EQ(
      std::system((flags + "--screenshot=" + png + " file://" + html_path + " 2>> " + log).c_str()),
      0)
      << slurp(log);
  EXPECT_GT(curve_pixels(png), 200u) << "the loss curve is not in the screenshot " << png;
}

}  // namespace
}  // namespace kiln::testing
