// kiln train --task image-classification and kiln classify on image records, end to end on tiny
// data the test writes: a separable two-class set of PNG/JPEG images (red-ish vs blue-ish) with
// metadata, a small DenseNet, the fusion model and the metadata-only MLP. Checks that the loss
// falls, the run directory gets its confusion matrix, resume is bit-exact with augmentation on,
// the metadata encoding is learned and stored, the group split keeps groups whole, classify
// prints label/score/probs, and bad records are refused naming file, line and field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "data/image_encode.h"
#include "nn/state_dict_io.h"
#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A 10x8 image of class 0 (red-ish) or 1 (blue-ish), with a per-example pattern so that no two
// are alike; even examples as PNG, odd ones as JPEG.
std::string write_image(const std::string& dir, int index, int cls) {
  const int w = 10, h = 8;
  std::vector<uint8_t> px(w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int v = (x * 13 + y * 7 + index * 29) % 60;
      uint8_t* p = &px[(y * w + x) * 3];
      p[0] = static_cast<uint8_t>(cls == 0 ? 190 + v : 20 + v);
      p[1] = static_cast<uint8_t>(60 + v);
      p[2] = static_cast<uint8_t>(cls == 0 ? 20 + v : 190 + v);
    }
  const bool png = index % 2 == 0;
  const std::string name = "img" + std::to_string(index) + (png ? ".png" : ".jpg");
  write_bytes(dir + "/" + name, png ? data::encode_png(px.data(), w, h, data::PixelLayout::RGB)
                                    : data::encode_jpeg(px.data(), w, h, data::PixelLayout::RGB));
  return name;
}

const char* const kSites[] = {"back", "face", "hand"};

// n records {"image", "label", "age", "sex", "site", "lesion"}; lesions of two rows each.
std::string write_records(const std::string& dir, const std::string& file, int n, int first = 0) {
  std::string out;
  for (int i = first; i < first + n; ++i) {
    const int cls = i % 2;
    nlohmann::json r = {
        {"image", write_image(dir, i, cls)},
        {"label", cls == 0 ? "red" : "blue"},
        {"age", i % 5 == 0 ? nlohmann::json(nullptr) : nlohmann::json(30 + 5 * cls + i % 3)},
        {"sex", i % 3 == 0 ? "female" : "male"},
        {"site", kSites[i % 3]},
        {"lesion", "L" + std::to_string(i / 2)}};
    out += r.dump() + "\n";
  }
  write_file(dir + "/" + file, out);
  return dir + "/" + file;
}

// A small DenseNet (torchvision-style config) at 16x16 input.
std::string densenet_config(const TempDir& tmp) {
  const nlohmann::json c = {{"growth_rate", 4},       {"block_config", {1, 1}},
                            {"num_init_features", 8}, {"bn_size", 2},
                            {"num_classes", 2},       {"input_size_hw", {16, 16}}};
  write_file(tmp / "densenet.json", c.dump());
  return tmp / "densenet.json";
}

// The fusion model around that DenseNet; its metadata encoding is a placeholder that
// --metadata-fields replaces with the one learned from the data.
std::string fusion_config(const TempDir& tmp) {
  const nlohmann::json image = {{"growth_rate", 4},
                                {"block_config", {1, 1}},
                                {"num_init_features", 8},
                                {"bn_size", 2},
                                {"num_classes", 2}};
  const nlohmann::json c = {
      {"image", image},
      {"input_size_hw", {16, 16}},
      {"meta_hidden", 8},
      {"num_classes", 2},
      {"metadata_encoding",
       {{"layout", {"age_z", "age_missing"}}, {"age_mean", 0.0}, {"age_std", 1.0}}}};
  write_file(tmp / "fusion.json", c.dump());
  return tmp / "fusion.json";
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(ImageClassificationCli, DenseNetLearnsSeparableImagesAndClassifies) {
  TempDir tmp;
  const auto train = write_records(tmp.path(), "train.jsonl", 16);
  const auto eval = write_records(tmp.path(), "eval.jsonl", 6, 100);
  auto r = run_kiln("train --task image-classification --config " + densenet_config(tmp) +
                    " --train " + train + " --eval " + eval + " -o " + (tmp / "run") +
                    " --optimizer sgd --momentum 0.9 --learning-rate 0.05 --lr-scheduler cosine"
                    " --epochs 6 --per-device-batch-size 4 --logging-steps 1 --threads 1"
                    " --metric accuracy --crop-scale 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<double> losses;
  nlohmann::json last_eval;
  for (const auto& j : read_jsonl(tmp / "run/metrics.jsonl")) {
    if (j.contains("eval"))
      last_eval = j["eval"];
    else
      losses.push_back(j["loss"].get<double>());
  }
  ASSERT_GE(losses.size(), 12u);
  const double first = (losses[0] + losses[1] + losses[2] + losses[3]) / 4;
  const size_t n = losses.size();
  const double last = (losses[n - 1] + losses[n - 2] + losses[n - 3] + losses[n - 4]) / 4;
  EXPECT_LT(last, 0.6 * first) << "the training loss should fall on separable data";
  EXPECT_EQ(last_eval["accuracy"], 1.0) << last_eval.dump();
  EXPECT_EQ(last_eval["balanced_accuracy"], 1.0);
  EXPECT_EQ(last_eval["labels"], nlohmann::json({"blue", "red"}));
  // kiln eval of best.kiln gives the evaluation of the epoch it was saved at.
  nlohmann::json best_eval;
  for (const auto& j : read_jsonl(tmp / "run/metrics.jsonl"))
    if (j.contains("eval") &&
        (best_eval.is_null() || j["eval"]["accuracy"] > best_eval["accuracy"]))
      best_eval = j["eval"];
  auto e = run_kiln(
      "eval -m " + (tmp / "run/best.kiln") + " --task image-classification -i " + eval, false);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const auto em = nlohmann::json::parse(e.output);
  EXPECT_EQ(em["accuracy"], best_eval["accuracy"]);
  EXPECT_NEAR(em["loss"].get<double>(), best_eval["loss"].get<double>(), 1e-6);
  // The confusion matrix of the last evaluation, as data and as a picture.
  const auto cm = nlohmann::json::parse(std::ifstream(tmp / "run/confusion_matrix.json"));
  EXPECT_EQ(cm["matrix"], nlohmann::json({{3, 0}, {0, 3}}));
  std::ifstream svg_in(tmp / "run/confusion_matrix.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), {});
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find(">blue<"), std::string::npos);

  // classify: {"image": ...} records relative to the input file; label, score and --probs.
  write_file(tmp / "in.jsonl",
             "{\"id\": 7, \"image\": \"img100.png\"}\n{\"image\": \"img101.jpg\"}\n");
  auto c = run_kiln(
      "classify -m " + (tmp / "run/best.kiln") + " --input " + (tmp / "in.jsonl") + " --probs",
      false);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  std::vector<nlohmann::json> lines;
  std::stringstream ss(c.output);
  for (std::string line; std::getline(ss, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u) << c.output;
  EXPECT_EQ(lines[0]["id"], 7);
  EXPECT_EQ(lines[0]["image"], "img100.png");
  EXPECT_EQ(lines[0]["label"], "red");
  EXPECT_EQ(lines[1]["label"], "blue");
  const double p_red = lines[0]["probs"]["red"], p_blue = lines[0]["probs"]["blue"];
  EXPECT_NEAR(p_red + p_blue, 1.0, 1e-6);
  EXPECT_EQ(lines[0]["score"].get<double>(), p_red);
  EXPECT_EQ(c.output.substr(0, c.output.find('\n')).find("\"id\":7,\"image\""), 1u)
      << "passed-through fields first, then image, label, score, probs: " << c.output;
}

// The small-image stem (config "stem": "small", one 3x3 conv, stride 1) end to end: trains with
// --crop-scale 0 (no crop, a plain resize; once refused as an invalid crop scale), the stored model
// keeps the stem (kiln inspect says so), and classify runs it on the inference engine.
TEST(ImageClassificationCli, SmallStemDenseNetTrainsInspectsAndClassifies) {
  TempDir tmp;
  const auto train = write_records(tmp.path(), "train.jsonl", 8);
  const auto eval = write_records(tmp.path(), "eval.jsonl", 4, 100);
  const nlohmann::json c = {
      {"growth_rate", 4}, {"block_config", {1, 1}}, {"num_init_features", 8},   {"bn_size", 2},
      {"num_classes", 2}, {"stem", "small"},        {"input_size_hw", {12, 12}}};
  write_file(tmp / "small.json", c.dump());
  auto r = run_kiln("train --task image-classification --config " + (tmp / "small.json") +
                    " --train " + train + " --eval " + eval + " -o " + (tmp / "run") +
                    " --optimizer sgd --momentum 0.9 --learning-rate 0.05 --epochs 1"
                    " --per-device-batch-size 4 --threads 1 --metric accuracy --crop-scale 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto i = run_kiln("inspect --summary " + (tmp / "run/best.kiln"), false);
  ASSERT_EQ(i.exit_code, 0) << i.output;
  EXPECT_NE(i.output.find("small stem"), std::string::npos) << i.output;
  EXPECT_EQ(i.output.find("norm0"), std::string::npos) << i.output;
  auto cl = run_kiln("classify -m " + (tmp / "run/best.kiln") + " --input " + eval, false);
  ASSERT_EQ(cl.exit_code, 0) << cl.output;
  EXPECT_EQ(std::count(cl.output.begin(), cl.output.end(), '\n'), 4) << cl.output;
  // A bad stem value is refused naming the field.
  write_file(tmp / "bad.json",
             nlohmann::json({{"growth_rate", 4}, {"block_config", {1}}, {"stem", "tiny"}}).dump());
  auto bad = run_kiln("train --task image-classification --config " + (tmp / "bad.json") +
                      " --train " + train + " -o " + (tmp / "bad_run") + " --threads 1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("'stem'"), std::string::npos) << bad.output;
}

TEST(ImageClassificationCli, FusionResumeIsBitExactWithAugmentation) {
  TempDir tmp;
  const auto train = write_records(tmp.path(), "train.jsonl", 12);
  const std::string common = "train --task image-classification --config " + fusion_config(tmp) +
                             " --train " + train +
                             " --metadata-fields age,sex,site --eval-split 0.25 --group-field "
                             "lesion --epochs 2 --per-device-batch-size 3 --vflip 0.5"
                             " --class-weights balanced --threads 1 -o ";
  auto a = run_kiln(common + (tmp / "a"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b1 = run_kiln(common + (tmp / "b") + " --stop-after-steps 2");
  ASSERT_EQ(b1.exit_code, 0) << b1.output;
  auto b2 = run_kiln("train --resume " + (tmp / "b") + " --threads 2");
  ASSERT_EQ(b2.exit_code, 0) << b2.output;
  std::map<std::string, std::string> meta_a, meta_b;
  const auto wa = nn::load_safetensors(tmp / "a/checkpoint/checkpoint.safetensors", &meta_a);
  const auto wb = nn::load_safetensors(tmp / "b/checkpoint/checkpoint.safetensors", &meta_b);
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa)
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), wb.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs after resume";
  EXPECT_EQ(meta_a["kiln.train_state"], meta_b["kiln.train_state"]);
  // --gradient-checkpointing recomputes each dense layer and transition in backward, and
  // --image-cache-mb 0 decodes every image on every use: the same weights and batch-norm
  // statistics, bit for bit.
  auto g = run_kiln(common + (tmp / "g") + " --gradient-checkpointing --image-cache-mb 0");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const auto wg = nn::load_safetensors(tmp / "g/checkpoint/checkpoint.safetensors");
  ASSERT_EQ(wa.size(), wg.size());
  for (const auto& [name, t] : wa)
    EXPECT_EQ(
        std::memcmp(t.contiguous().raw_data(), wg.at(name).contiguous().raw_data(), t.nbytes()), 0)
        << name << " differs with --gradient-checkpointing";
  // The learned encoding is in the model: age standardised, sex and site one-hot, sorted.
  const auto config = nlohmann::json::parse(meta_a["kiln.config"]);
  EXPECT_EQ(config["metadata_encoding"]["layout"],
            nlohmann::json({"age_z", "age_missing", "sex=female", "sex=male", "site=back",
                            "site=face", "site=hand"}));
  EXPECT_EQ(config["meta_dim"], 7);
  const auto manifest = nlohmann::json::parse(std::ifstream(tmp / "a/manifest.json"));
  EXPECT_EQ(manifest["data"]["eval"]["examples"], 4) << "two whole lesions of two rows";
  EXPECT_EQ(manifest["resolved"]["class_weights"], nlohmann::json({1.0, 1.0}));
  // classify with {"image", "metadata": {...}} records.
  write_file(tmp / "in.jsonl",
             "{\"image\": \"img0.png\", \"metadata\": {\"age\": 40, \"sex\": \"male\", "
             "\"site\": \"face\"}}\n");
  auto c =
      run_kiln("classify -m " + (tmp / "a/best.kiln") + " --input " + (tmp / "in.jsonl"), false);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto out = nlohmann::json::parse(c.output);
  EXPECT_TRUE(out["label"] == "red" || out["label"] == "blue") << c.output;
  EXPECT_FALSE(out.contains("probs"));
  // A category the model never saw (and it has no "unknown"): file, line and field.
  write_file(tmp / "bad.jsonl",
             "{\"image\": \"img0.png\", \"metadata\": {\"age\": 40, \"sex\": \"male\", "
             "\"site\": \"ear\"}}\n");
  auto bad = run_kiln("classify -m " + (tmp / "a/best.kiln") + " --input " + (tmp / "bad.jsonl"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("bad.jsonl:1: metadata: field \"site\": unknown value 'ear'"),
            std::string::npos)
      << bad.output;
}

TEST(ImageClassificationCli, MetadataOnlyModelFromCsv) {
  TempDir tmp;
  std::string csv = "lesion,dx,age,sex,site\n";
  for (int i = 0; i < 24; ++i)
    csv += "L" + std::to_string(i / 3) + "," + (i % 2 ? "b" : "a") + "," +
           (i % 7 == 0 ? "" : std::to_string(20 + 40 * (i % 2) + i % 4)) + "," +
           (i % 2 ? "male" : "female") + "," + kSites[i % 3] + "\n";
  write_file(tmp / "meta.csv", csv);
  write_file(tmp / "mlp.json", R"({"model_type": "metadata-mlp", "meta_hidden": 8})");
  auto r =
      run_kiln("train --task image-classification --config " + (tmp / "mlp.json") + " --train " +
               (tmp / "meta.csv") +
               " --label-field dx --metadata-fields age,sex,site --eval-split 0.25"
               " --group-field lesion --epochs 15 --learning-rate 0.05 --per-device-batch-size 6"
               " --threads 1 -o " +
               (tmp / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json last;
  for (const auto& j : read_jsonl(tmp / "run/metrics.jsonl"))
    if (j.contains("eval")) last = j["eval"];
  EXPECT_EQ(last["balanced_accuracy"], 1.0) << last.dump();
  write_file(tmp / "in.jsonl",
             "{\"metadata\": {\"age\": 62, \"sex\": \"male\", \"site\": \"back\"}}\n");
  auto c2 =
      run_kiln("classify -m " + (tmp / "run/best.kiln") + " --input " + (tmp / "in.jsonl"), false);
  ASSERT_EQ(c2.exit_code, 0) << c2.output;
  EXPECT_EQ(nlohmann::json::parse(c2.output)["label"], "b") << c2.output;
  // The encoding names its fields; a non-numeric age is refused with file, line and field.
  write_file(tmp / "bad.jsonl",
             "{\"metadata\": {\"age\": \"old\", \"sex\": \"male\", \"site\": \"back\"}}\n");
  auto bad = run_kiln("classify -m " + (tmp / "run/best.kiln") + " --input " + (tmp / "bad.jsonl"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("bad.jsonl:1: metadata: field \"age\": 'old' is not a number"),
            std::string::npos)
      << bad.output;
}

TEST(ImageClassificationCli, BadRecordsNameFileLineAndField) {
  TempDir tmp;
  const std::string cfg = densenet_config(tmp);
  write_image(tmp.path(), 0, 0);
  write_image(tmp.path(), 1, 1);
  auto train_with = [&](const std::string& records, const std::string& extra = "") {
    write_file(tmp / "t.jsonl", records);
    fs::remove_all(tmp / "run");
    return run_kiln("train --task image-classification --config " + cfg + " --train " +
                    (tmp / "t.jsonl") + " --epochs 1 --threads 1 -o " + (tmp / "run") + extra);
  };
  const std::string ok0 = R"({"image": "img0.png", "label": "a"})"
                          "\n";
  auto missing_file = train_with(ok0 + R"({"image": "nope.png", "label": "b"})"
                                       "\n");
  EXPECT_NE(missing_file.exit_code, 0);
  EXPECT_NE(missing_file.output.find("t.jsonl:2: field \"image\": image file '"), std::string::npos)
      << missing_file.output;
  EXPECT_NE(missing_file.output.find("nope.png' not found"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "run/manifest.json")) << "bad data leaves no run behind";

  auto missing_label = train_with(ok0 + R"({"image": "img1.jpg"})"
                                        "\n");
  EXPECT_NE(missing_label.exit_code, 0);
  EXPECT_NE(missing_label.output.find("t.jsonl:2: missing field \"label\""), std::string::npos)
      << missing_label.output;

  auto missing_image = train_with(ok0 + R"({"picture": "img1.jpg", "label": "b"})"
                                        "\n");
  EXPECT_NE(missing_image.exit_code, 0);
  EXPECT_NE(missing_image.output.find("t.jsonl:2: missing field \"image\""), std::string::npos)
      << missing_image.output;

  auto no_metadata = train_with(ok0, " --metadata-fields age");
  EXPECT_NE(no_metadata.exit_code, 0);
  EXPECT_NE(no_metadata.output.find("t.jsonl:1: missing field \"age\""), std::string::npos)
      << no_metadata.output;

  write_file(tmp / "corrupt.png", "not a png at all");
  auto corrupt = train_with(ok0 + R"({"image": "corrupt.png", "label": "b"})"
                                  "\n");
  EXPECT_NE(corrupt.exit_code, 0);
  EXPECT_NE(corrupt.output.find("t.jsonl:2: "), std::string::npos) << corrupt.output;
  EXPECT_NE(corrupt.output.find("corrupt.png"), std::string::npos) << corrupt.output;

  auto bad_cache = train_with(ok0, " --image-cache-mb -5");
  EXPECT_NE(bad_cache.exit_code, 0);
  EXPECT_NE(bad_cache.output.find("--image-cache-mb"), std::string::npos) << bad_cache.output;

  auto wrong_task_flag = run_kiln(
      "train --task sequence-classification --image-field x "
      "--train x --config y -o z");
  EXPECT_EQ(wrong_task_flag.exit_code, 2) << wrong_task_flag.output;
  EXPECT_NE(wrong_task_flag.output.find("--image-field does not apply to --task "
                                        "sequence-classification"),
            std::string::npos)
      << wrong_task_flag.output;
}

// The reference fusion-tiny (converted) scored by kiln eval through the task's whole input path
// (JPEG decode, resize to 64x64, normalisation, the metadata encoding of the CSV-style fields):
// reference.json records torchvision's eval-mode accuracy on the 49 training images (41 right)
// and on the other 21 (5 right).
TEST(ImageClassificationCli, ConvertedFusionTinyScoresAsTorchvisionDid) {
  const std::string shared = KILN_SHARED_DIR;
  const std::string refs = shared + "/refs/models/";
  const std::string sample = shared + "/data/ham10000/sample.jsonl";
  if (!fs::exists(refs + "fusion-tiny") || !fs::exists(sample)) GTEST_SKIP() << "no fixtures";
  TempDir tmp;
  ASSERT_EQ(run_kiln("convert " + refs + "fusion-tiny -o " + (tmp / "f.kiln")).exit_code, 0);
  const auto ref = nlohmann::json::parse(std::ifstream(refs + "fusion-tiny/reference.json"));
  const auto pool = nlohmann::json::parse(std::ifstream(refs + "densenet-tiny/reference.json"));
  std::set<std::string> trained;
  for (const auto& i : pool["train"]["images"]) trained.insert(i.get<std::string>());
  ASSERT_EQ(trained.size(), 49u);
  std::string in_pool, others;
  for (const auto& r : read_jsonl(sample))
    (trained.count(r["image_path"]) ? in_pool : others) += r.dump() + "\n";
  write_file(tmp / "pool.jsonl", in_pool);
  write_file(tmp / "others.jsonl", others);
  const std::string images = " --image-dir " + shared + "/data/ham10000";
  for (const auto& [file, want] :
       {std::pair<std::string, double>{"pool.jsonl",
                                       ref["accuracy_train_images_eval_mode"]["fused"]},
        {"others.jsonl", ref["accuracy_other_21_images_eval_mode"]}}) {
    auto r = run_kiln("eval -m " + (tmp / "f.kiln") + " --task image-classification -i " +
                          (tmp / file) + " --image-field image_path --label-field dx" + images,
                      false);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NEAR(nlohmann::json::parse(r.output)["accuracy"].get<double>(), want, 1e-6) << file;
  }
}

}  // namespace
}  // namespace kiln::testing
