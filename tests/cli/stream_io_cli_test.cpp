// kiln tag and classify as a command-line user drives them: input fields pass through to the
// output, a bad line mid-stream fails after the earlier lines' output (or is skipped with a warning
// under --skip-bad-lines), field-mapping flags, CSV/TSV input, a byte-order mark, plain-text lines
// whose errors name file:line, and exactly one tag label per given word.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

// A converted reference model, made once per test binary run ("" when the fixture is absent).
const std::string& model(const std::string& name) {
  static TempDir dir;
  static std::map<std::string, std::string> made;
  if (!made.count(name)) {
    std::string path;
    if (fs::exists(kRefs + name)) {
      path = dir / (name + ".kiln");
      if (run_kiln("convert " + kRefs + name + " -o " + path).exit_code != 0) path.clear();
    }
    made[name] = path;
  }
  return made[name];
}

#define REQUIRE_MODEL(name) \
  if (model(name).empty()) GTEST_SKIP() << name << " fixture not present"

// `kiln <args>` with stdout and stderr kept apart.
struct Outcome {
  int exit_code = -1;
  std::vector<json> lines;  // stdout, one JSON value per line
  std::string out, err;
};

Outcome run(const std::string& args, const TempDir& tmp) {
  const std::string err_path = tmp / "stderr.txt";
  const std::string cmd = std::string(KILN_BIN) + " " + args + " 2>" + err_path;
  Outcome r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::stringstream err;
  err << std::ifstream(err_path).rdbuf();
  r.err = err.str();
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    r.lines.push_back(j.is_discarded() ? json(line) : j);
  }
  return r;
}

std::string write(const TempDir& tmp, const std::string& name, const std::string& content) {
  std::ofstream(tmp / name, std::ios::binary) << content;
  return tmp / name;
}

// The output line's keys in the order written (nlohmann::json would sort them).
std::vector<std::string> keys_in_order(const std::string& line) {
  std::vector<std::string> out;
  const auto object = nlohmann::ordered_json::parse(line);
  for (const auto& [k, v] : object.items()) out.push_back(k);
  return out;
}

std::vector<std::string> out_lines(const std::string& out) {
  std::vector<std::string> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

using V = std::vector<std::string>;

TEST(StreamIo, ClassifyPassesInputFieldsThroughBeforeItsOwn) {
  REQUIRE_MODEL("bert-seqcls");
  TempDir tmp;
  const auto in =
      write(tmp, "in.jsonl",
            R"({"text": "a fine film", "id": 7, "meta": {"k": [1, 2]}, "label": "gold"})"
            "\n"
            R"({"id": 8, "text": "first part", "pair": "second part"})"
            "\n");
  const Outcome r = run("classify -m " + model("bert-seqcls") + " -i " + in, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 2u) << r.out;
  const V lines = out_lines(r.out);
  // Input fields first (by name), then kiln's; the input's "label" is kept as "input_label".
  EXPECT_EQ(keys_in_order(lines[0]), (V{"id", "input_label", "meta", "text", "label", "score"}));
  EXPECT_EQ(r.lines[0]["id"], 7);
  EXPECT_EQ(r.lines[0]["input_label"], "gold");
  EXPECT_EQ(r.lines[0]["meta"], json::parse(R"({"k": [1, 2]})"));
  EXPECT_EQ(r.lines[0]["text"], "a fine film");
  EXPECT_EQ(keys_in_order(lines[1]), (V{"id", "text", "pair", "label", "score"}));
  EXPECT_EQ(r.lines[1]["pair"], "second part");
}

TEST(StreamIo, TagPassesInputFieldsThrough) {
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const auto in = write(tmp, "in.jsonl",
                        R"({"id": "doc-1", "words": ["Wavelength", "services"], "text": "x"})"
                        "\n");
  const Outcome r = run("tag -m " + model("bert-tokcls") + " -i " + in, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  // The words were read; the record's own "text" is not kiln's, so it is kept beside it.
  EXPECT_EQ(keys_in_order(out_lines(r.out)[0]),
            (V{"id", "input_text", "text", "words", "labels", "spans"}));
  EXPECT_EQ(r.lines[0]["id"], "doc-1");
  EXPECT_EQ(r.lines[0]["input_text"], "x");
  EXPECT_EQ(r.lines[0]["text"], "Wavelength services");
}

// Lines 2 (malformed), 4 (no text) and 5 (text not a string) are bad.
const std::string kMixed = R"({"id": 1, "text": "a fine film"})"
                           "\n"
                           R"({"id": 2, "text": broken)"
                           "\n"
                           R"({"id": 3, "text": "dull and far too long"})"
                           "\n"
                           R"({"id": 4, "txt": "typo"})"
                           "\n"
                           R"({"id": 5, "text": 5})"
                           "\n"
                           R"({"id": 6, "text": "wonderful"})"
                           "\n";

TEST(StreamIo, ABadLineFailsAfterTheOutputOfTheLinesBeforeIt) {
  REQUIRE_MODEL("bert-seqcls");
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const auto in = write(tmp, "mixed.jsonl", kMixed);
  for (const std::string& cmd :
       {"classify -m " + model("bert-seqcls"), "tag -m " + model("bert-tokcls")}) {
    const Outcome r = run(cmd + " -i " + in, tmp);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    ASSERT_EQ(r.lines.size(), 1u) << cmd << ": " << r.out;
    EXPECT_EQ(r.lines[0]["id"], 1);
    EXPECT_NE(r.err.find(in + ":2: malformed JSON line"), std::string::npos) << r.err;
  }
  // A missing field mid-stream, likewise.
  const auto missing = write(tmp, "missing.jsonl",
                             R"({"id": 1, "text": "a fine film"})"
                             "\n"
                             R"({"id": 3, "text": "dull"})"
                             "\n"
                             R"({"id": 4, "txt": "typo"})"
                             "\n");
  const Outcome r = run("classify -m " + model("bert-seqcls") + " -i " + missing, tmp);
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(r.lines.size(), 2u) << r.out;
  EXPECT_EQ(r.lines[1]["id"], 3);
  EXPECT_NE(r.err.find(missing + ":3: missing field \"text\"; the record has: id, txt"),
            std::string::npos)
      << r.err;
}

TEST(StreamIo, SkipBadLinesWarnsCountsAndGoesOn) {
  REQUIRE_MODEL("bert-seqcls");
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const auto in = write(tmp, "mixed.jsonl", kMixed);
  for (const std::string& cmd :
       {"classify -m " + model("bert-seqcls"), "tag -m " + model("bert-tokcls")}) {
    const Outcome r = run(cmd + " --skip-bad-lines -i " + in, tmp);
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    ASSERT_EQ(r.lines.size(), 3u) << cmd << ": " << r.out;
    EXPECT_EQ(r.lines[0]["id"], 1);
    EXPECT_EQ(r.lines[1]["id"], 3);
    EXPECT_EQ(r.lines[2]["id"], 6);
    for (const std::string& needle :
         V{in + ":2: malformed JSON line", in + ":4: missing field \"text\"",
           in + ":5: field \"text\" must be a string", "skipped 3 bad input lines"})
      EXPECT_NE(r.err.find(needle), std::string::npos) << cmd << " lacks " << needle << ":\n"
                                                       << r.err;
  }
}

TEST(StreamIo, TextAndPairFieldsAreMapped) {
  REQUIRE_MODEL("bert-seqcls");
  TempDir tmp;
  const auto plain = write(tmp, "plain.jsonl",
                           R"({"text": "first part", "pair": "second part"})"
                           "\n");
  const auto mapped = write(tmp, "mapped.jsonl",
                            R"({"s1": "first part", "s2": "second part", "id": 1})"
                            "\n");
  const Outcome a = run("classify --probs -m " + model("bert-seqcls") + " -i " + plain, tmp);
  const Outcome b = run("classify --probs -m " + model("bert-seqcls") +
                            " --text-field s1 --pair-field s2 -i " + mapped,
                        tmp);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_EQ(b.lines.size(), 1u);
  EXPECT_EQ(b.lines[0]["text"], "first part");
  EXPECT_EQ(b.lines[0]["pair"], "second part");
  EXPECT_FALSE(b.lines[0].contains("s1"));  // read, so written back as "text", not passed through
  EXPECT_EQ(b.lines[0]["probs"], a.lines[0]["probs"]);  // the same input to the model
  EXPECT_EQ(b.lines[0]["id"], 1);

  // A field the records do not have names the field and what the record has.
  const Outcome c =
      run("classify -m " + model("bert-seqcls") + " --text-field sentence -i " + plain, tmp);
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find(plain + ":1: missing field \"sentence\"; the record has: pair, text"),
            std::string::npos)
      << c.err;
}

TEST(StreamIo, CsvAndTsvInputByExtensionOrFlag) {
  REQUIRE_MODEL("bert-seqcls");
  TempDir tmp;
  const auto jsonl = write(tmp, "ref.jsonl",
                           R"({"id": "7", "text": "a dull, \"long\" film"})"
                           "\n"
                           R"({"id": "9", "text": "great"})"
                           "\n");
  const Outcome ref = run("classify --probs -m " + model("bert-seqcls") + " -i " + jsonl, tmp);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  ASSERT_EQ(ref.lines.size(), 2u);

  const auto csv = write(tmp, "in.csv", "id,sentence\n7,\"a dull, \"\"long\"\" film\"\n9,great\n");
  const Outcome c =
      run("classify --probs -m " + model("bert-seqcls") + " --text-field sentence -i " + csv, tmp);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.lines, ref.lines);  // the same records, fields and predictions
  // TSV under a name that says nothing, by --input-format; and CSV from stdin.
  const auto tsv = write(tmp, "in.dat", "id\ttext\n7\ta dull, \"long\" film\n9\tgreat\n");
  const Outcome t =
      run("classify --probs -m " + model("bert-seqcls") + " --input-format tsv -i " + tsv, tmp);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.lines, ref.lines);
  const Outcome s = run("classify --probs -m " + model("bert-seqcls") +
                            " --input-format csv --text-field sentence < " + csv,
                        tmp);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.lines, c.lines);

  // A CSV row with the wrong number of cells is a bad line like any other.
  const auto bad = write(tmp, "bad.csv", "id,text\n1,fine\n2,too,many\n3,good\n");
  const Outcome b = run("classify -m " + model("bert-seqcls") + " -i " + bad, tmp);
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_EQ(b.lines.size(), 1u);
  EXPECT_NE(b.err.find(bad + ":3: expected 2 cells"), std::string::npos) << b.err;
  const Outcome bs =
      run("classify --skip-bad-lines -m " + model("bert-seqcls") + " -i " + bad, tmp);
  EXPECT_EQ(bs.exit_code, 0) << bs.err;
  EXPECT_EQ(bs.lines.size(), 2u);

  const Outcome u =
      run("classify -m " + model("bert-seqcls") + " --input-format xml -i " + csv, tmp);
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_NE(u.err.find("--input-format"), std::string::npos) << u.err;
}

TEST(StreamIo, AByteOrderMarkIsSkipped) {
  REQUIRE_MODEL("bert-seqcls");
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const std::string body = R"({"id": 1, "text": "a fine film"})"
                           "\n";
  const auto plain = write(tmp, "plain.jsonl", body);
  const auto bom = write(tmp, "bom.jsonl", "\xEF\xBB\xBF" + body);
  const auto bom_csv = write(tmp, "bom.csv", "\xEF\xBB\xBFid,text\n1,a fine film\n");
  for (const std::string& cmd :
       {"classify --probs -m " + model("bert-seqcls"), "tag --probs -m " + model("bert-tokcls")}) {
    const Outcome a = run(cmd + " -i " + plain, tmp);
    const Outcome b = run(cmd + " -i " + bom, tmp);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_EQ(b.lines.size(), 1u) << b.out;
    EXPECT_EQ(b.lines[0]["id"], 1);  // read as JSON, not as the text "\uFEFF{..."
    EXPECT_EQ(b.out, a.out);
    const Outcome c = run(cmd + " -i " + bom_csv, tmp);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    ASSERT_EQ(c.lines.size(), 1u);
    EXPECT_EQ(c.lines[0]["id"], "1");  // the first column is "id", not "\uFEFFid"
    EXPECT_EQ(c.lines[0]["text"], "a fine film");
  }
}

TEST(StreamIo, PlainTextLineErrorsNameFileAndLine) {
  REQUIRE_MODEL("bert-seqcls");
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const auto txt = write(tmp, "lines.txt", "a fine film\nbad \xFF byte\nwonderful\n");
  for (const std::string& cmd :
       {"classify -m " + model("bert-seqcls"), "tag -m " + model("bert-tokcls"),
        "tag --word-splitter regex-words -m " + model("bert-tokcls")}) {
    const Outcome r = run(cmd + " -i " + txt, tmp);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    ASSERT_EQ(r.lines.size(), 1u) << cmd << ": " << r.out;
    EXPECT_EQ(r.lines[0]["text"], "a fine film");
    EXPECT_NE(r.err.find(txt + ":2: text is not valid UTF-8 (invalid byte 0xFF at byte offset 4)"),
              std::string::npos)
        << cmd << ": " << r.err;
    const Outcome s = run(cmd + " --skip-bad-lines -i " + txt, tmp);
    EXPECT_EQ(s.exit_code, 0) << s.err;
    EXPECT_EQ(s.lines.size(), 2u);
  }
}

TEST(StreamIo, TagGivesOneLabelPerGivenWordEvenEmptyOnes) {
  REQUIRE_MODEL("bert-tokcls");
  TempDir tmp;
  const V words = {"Wavelength", "", "services", "  ", "\t", "for", "fiber", "\xE2\x80\x8B", "."};
  const V real = {"Wavelength", "services", "for", "fiber", "."};  // the rest have no tokens
  const auto in = write(tmp, "in.jsonl",
                        json{{"words", words}}.dump() + "\n" + json{{"words", real}}.dump() + "\n" +
                            json{{"text", words}}.dump() + "\n");
  const Outcome r = run("tag --probs -m " + model("bert-tokcls") + " -i " + in, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 3u);
  const json& all = r.lines[0];
  const json& only = r.lines[1];
  EXPECT_EQ(all["words"], words);
  ASSERT_EQ(all["labels"].size(), words.size());
  ASSERT_EQ(all["probs"].size(), words.size());
  EXPECT_FALSE(all.contains("truncated_words"));
  // The empty words add no tokens, so the others see the same model input and get the same
  // labels and probabilities as without them; the empty ones are "O" with null probs.
  size_t k = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const bool empty =
        words[i].empty() || words[i] == "  " || words[i] == "\t" || words[i] == "\xE2\x80\x8B";
    if (empty) {
      EXPECT_EQ(all["labels"][i], "O") << i;
      EXPECT_TRUE(all["probs"][i].is_null()) << i;
    } else {
      EXPECT_EQ(all["labels"][i], only["labels"][k]) << i;
      EXPECT_EQ(all["probs"][i], only["probs"][k]) << i;
      ++k;
    }
  }
  EXPECT_EQ(k, real.size());
  // Spans still point into the text (the words joined by single spaces).
  const std::string text = all["text"];
  for (const auto& s : all["spans"])
    EXPECT_EQ(text.substr(s["start"], s["end"].get<size_t>() - s["start"].get<size_t>()),
              s["text"].get<std::string>());
  // An array in the text field is words too.
  EXPECT_EQ(r.lines[2]["words"], words);
  EXPECT_EQ(r.lines[2]["labels"], all["labels"]);

  // --words-field names the field (Inspec's "tokens").
  const auto tokens = write(tmp, "tokens.jsonl", json{{"tokens", words}}.dump() + "\n");
  const Outcome t =
      run("tag --probs --words-field tokens -m " + model("bert-tokcls") + " -i " + tokens, tmp);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ASSERT_EQ(t.lines.size(), 1u);
  EXPECT_EQ(t.lines[0]["labels"], all["labels"]);
  EXPECT_FALSE(t.lines[0].contains("tokens"));
}

}  // namespace
}  // namespace kiln::testing
