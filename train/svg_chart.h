// Line charts as standalone SVG elements, for the HTML run report: axes with "nice" tick values
// (1, 2 or 5 times a power of ten), grid lines, axis titles, and one polyline per series with a
// legend when there are several. No script and no external resources, so a page embedding them
// renders anywhere, offline.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::train {

struct ChartSeries {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite points are left out
};

struct Chart {
  std::string id;  // the svg element's id
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  int width = 460, height = 280;
};

// An <svg> element (no XML prolog) drawing `chart`; "no data" in the plot area when no series has
// a point.
std::string render_chart(const Chart& chart);

// Tick values covering [lo, hi], about `target` of them, at a step of 1, 2 or 5 x 10^k.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Escapes &, <, >, " and ' for HTML/XML text and attribute values.
std::string xml_escape(std::string_view s);

}  // namespace kiln::train
