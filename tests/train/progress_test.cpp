#include "train/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace kiln::train {
namespace {

std::string captured(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(Progress, PlainLinesEveryNUpdatesWithoutATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Progress p(/*terminal=*/false, /*every=*/2, f);
  for (int64_t i = 1; i <= 5; ++i) p.update(i, 5, 0.5);
  p.finish();
  const std::string out = captured(f);
  std::fclose(f);
  EXPECT_NE(out.find("step 2/5 loss 0.5000"), std::string::npos) << out;
  EXPECT_NE(out.find("step 4/5"), std::string::npos) << out;
  EXPECT_NE(out.find("step 5/5"), std::string::npos) << out;  // the last update always prints
  EXPECT_EQ(out.find("step 3/5"), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
}

TEST(Progress, BarWithEtaOnATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Progress p(/*terminal=*/true, 100, f);
  p.update(1, 4, 1.25);
  p.message("epoch 1 eval {}");
  const std::string out = captured(f);
  std::fclose(f);
  EXPECT_NE(out.find("\r[======="), std::string::npos) << out;
  EXPECT_NE(out.find("1/4 loss 1.2500 ETA "), std::string::npos) << out;
  EXPECT_NE(out.find("\nepoch 1 eval {}\n"), std::string::npos) << out;
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(0), "00:00");
  EXPECT_EQ(Progress::format_duration(125), "02:05");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
}

}  // namespace
}  // namespace kiln::train
