// train/svg_chart.h: tick values and what a chart draws.
#include "train/svg_chart.h"

#include <gtest/gtest.h>

#include "train/run_summary.h"

namespace kiln::train {
namespace {

TEST(SvgChart, NiceTicksCoverTheRangeAtRoundSteps) {
  EXPECT_EQ(nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(1, 12), (std::vector<double>{0, 5, 10, 15}));
  const auto small = nice_ticks(0.61, 0.69);
  EXPECT_NEAR(small.front(), 0.6, 1e-12);
  EXPECT_NEAR(small[1] - small[0], 0.02, 1e-12);
  EXPECT_GE(small.back(), 0.69 - 1e-12);
  EXPECT_EQ(nice_ticks(3, 3).size() >= 2, true);  // one value still gets an axis
}

TEST(SvgChart, DrawsAxesTicksAndSeries) {
  Chart c{"chart-x", "loss <a&b>", "step", "loss", {{"train", {1, 2, 3}, {2.5, 1.5, 0.75}}}};
  const std::string svg = render_chart(c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("id='chart-x'"), std::string::npos);
  EXPECT_NE(svg.find("loss &lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NE(svg.find("<polyline class='series'"), std::string::npos);
  EXPECT_NE(svg.find(">0.5<"), std::string::npos) << svg;  // y ticks 0.5 .. 2.5
  EXPECT_NE(svg.find(">2.5<"), std::string::npos) << svg;
  c.series[0].x.clear(), c.series[0].y.clear();
  EXPECT_NE(render_chart(c).find("no data"), std::string::npos);
}

TEST(RunSummary, FormatsDurations) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

}  // namespace
}  // namespace kiln::train
