// train::with_input_fields: the input fields an inference command copies to its output line.
#include "train/pass_through.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln::train {
namespace {

std::vector<std::string> keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

data::Record record(const nlohmann::json& fields) {
  return data::Record{fields, "in.jsonl", 1};
}

using V = std::vector<std::string>;

TEST(PassThrough, InputFieldsFirstThenTheOutputsOwn) {
  nlohmann::ordered_json out;
  out["text"] = "kiln's text";
  out["label"] = "pos";
  const auto line = with_input_fields(
      record({{"sentence", "read"}, {"zeta", 1}, {"id", "a"}, {"nested", {{"k", {1, 2}}}}}),
      {"sentence"}, out);
  EXPECT_EQ(keys(line), (V{"id", "nested", "zeta", "text", "label"}));
  EXPECT_EQ(line["nested"]["k"][1], 2);
  EXPECT_EQ(line["text"], "kiln's text");
}

TEST(PassThrough, ACollidingInputFieldIsKeptUnderAFreeName) {
  nlohmann::ordered_json out;
  out["text"] = "t";
  out["label"] = "predicted";
  // "input_label" is taken by the input itself, so the gold label becomes "input_input_label".
  const auto line = with_input_fields(
      record({{"text", "t"}, {"label", "gold"}, {"input_label", 3}}), {"text"}, out);
  EXPECT_EQ(line["label"], "predicted");
  EXPECT_EQ(line["input_label"], 3);
  EXPECT_EQ(line["input_input_label"], "gold");
  EXPECT_EQ(keys(line), (V{"input_label", "input_input_label", "text", "label"}));
}

}  // namespace
}  // namespace kiln::train
