#include "train/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace kiln::train {
namespace {

// Colours told apart by people with the common colour-vision deficiencies (Okabe-Ito).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000"};

std::string num(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

// Tick labels: as short as the step allows (0.0001 steps need 4 decimals, 500 steps none).
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  const double mag = std::max(std::abs(v), step);
  std::ostringstream os;
  if (mag >= 1e6 || mag < 1e-4) {
    os.precision(2);
    os << std::scientific << v;
    return os.str();
  }
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  os.setf(std::ios::fixed);
  os.precision(decimals);
  os << v;
  return os.str();
}

double tick_step(const std::vector<double>& ticks) {
  return ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {  // one value (or none): a unit-wide range around it
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * 10;
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * power) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  const double first = std::floor(lo / step) * step;
  for (int i = 0;; ++i) {  // multiplied, not summed, so that no rounding error piles up
    const double t = first + i * step;
    if (t > hi + step * 0.999) break;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string render_chart(const Chart& chart) {
  const double left = 64, right = 16, top = 30, bottom = 46;
  const double w = chart.width - left - right, h = chart.height - top - bottom;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' class='chart' id='" << xml_escape(chart.id)
      << "' width='" << chart.width << "' height='" << chart.height << "' viewBox='0 0 "
      << chart.width << " " << chart.height << "' font-family='sans-serif' font-size='11'>\n";
  svg << "<title>" << xml_escape(chart.title) << "</title>\n";
  svg << "<text x='" << left << "' y='18' font-size='13' font-weight='bold'>"
      << xml_escape(chart.title) << "</text>\n";

  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  size_t points = 0;
  for (const auto& s : chart.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
      ++points;
    }
  svg << "<rect class='plot-area' x='" << left << "' y='" << top << "' width='" << w << "' height='"
      << h << "' fill='none' stroke='#444'/>\n";
  svg << "<text x='" << left + w / 2 << "' y='" << chart.height - 8 << "' text-anchor='middle'>"
      << xml_escape(chart.x_label) << "</text>\n";
  svg << "<text transform='translate(14," << top + h / 2 << ") rotate(-90)' text-anchor='middle'>"
      << xml_escape(chart.y_label) << "</text>\n";
  if (points == 0) {
    svg << "<text x='" << left + w / 2 << "' y='" << top + h / 2
        << "' text-anchor='middle' fill='#888'>no data</text>\n</svg>\n";
    return svg.str();
  }
  const auto xt = nice_ticks(xmin, xmax), yt = nice_ticks(ymin, ymax);
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return top + h - (y - y0) / (y1 - y0) * h; };
  svg << "<g class='x-ticks'>\n";
  for (double t : xt)
    svg << "<line x1='" << num(px(t)) << "' x2='" << num(px(t)) << "' y1='" << top << "' y2='"
        << top + h + 4 << "' stroke='#ddd'/><text x='" << num(px(t)) << "' y='" << top + h + 16
        << "' text-anchor='middle'>" << tick_label(t, tick_step(xt)) << "</text>\n";
  svg << "</g>\n<g class='y-ticks'>\n";
  for (double t : yt)
    svg << "<line x1='" << left - 4 << "' x2='" << left + w << "' y1='" << num(py(t)) << "' y2='"
        << num(py(t)) << "' stroke='#ddd'/><text x='" << left - 6 << "' y='" << num(py(t) + 4)
        << "' text-anchor='end'>" << tick_label(t, tick_step(yt)) << "</text>\n";
  svg << "</g>\n";
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const auto& s = chart.series[k];
    const char* colour = kColours[k % std::size(kColours)];
    svg << "<polyline class='series' fill='none' stroke='" << colour
        << "' stroke-width='1.6' points='";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
        svg << num(px(s.x[i])) << "," << num(py(s.y[i])) << " ";
    svg << "'/>\n";
    if (s.x.size() <= 40)  // dots only where they stay apart
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
          svg << "<circle cx='" << num(px(s.x[i])) << "' cy='" << num(py(s.y[i]))
              << "' r='2.5' fill='" << colour << "'/>\n";
    if (chart.series.size() > 1)
      svg << "<text x='" << left + w - 4 << "' y='" << top + 14 + 14 * k
          << "' text-anchor='end' fill='" << colour << "'>" << xml_escape(s.label) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace kiln::train
