#include "train/confusion_matrix.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "train/svg_chart.h"

namespace kiln::train {

std::string render_confusion_matrix(const std::vector<std::string>& labels,
                                    const std::vector<std::vector<int64_t>>& matrix,
                                    const std::string& title) {
  const size_t n = labels.size();
  KILN_CHECK(matrix.size() == n, "confusion matrix of ", matrix.size(), " rows for ", n, " labels");
  for (const auto& row : matrix)
    KILN_CHECK(row.size() == n, "confusion matrix row of ", row.size(), " cells for ", n,
               " labels");
  size_t longest = 1;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  // Label margins sized by the longest label (about 7 px per character at 12 px).
  const int cell = n > 20 ? 22 : 44;
  const int margin = 20 + static_cast<int>(std::min<size_t>(longest, 24)) * 7;
  const int top = 40 + margin, left = 30 + margin;
  const int width = left + cell * static_cast<int>(n) + 20;
  const int height = top + cell * static_cast<int>(n) + 20;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
      << xml_escape(title) << "</text>\n";
  svg << "<text x=\"" << left + cell * static_cast<int>(n) / 2 << "\" y=\"36\" "
      << "text-anchor=\"middle\">predicted</text>\n";
  svg << "<text transform=\"translate(14," << top + cell * static_cast<int>(n) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">gold</text>\n";
  auto label_text = [](const std::string& l) {
    return xml_escape(l.size() > 24 ? l.substr(0, 23) + "\u2026" : l);
  };
  for (size_t c = 0; c < n; ++c) {
    const int x = left + cell * static_cast<int>(c) + cell / 2;
    svg << "<text transform=\"translate(" << x << "," << top - 6
        << ") rotate(-60)\" text-anchor=\"start\">" << label_text(labels[c]) << "</text>\n";
    svg << "<text x=\"" << left - 6 << "\" y=\"" << top + cell * static_cast<int>(c) + cell / 2 + 4
        << "\" text-anchor=\"end\">" << label_text(labels[c]) << "</text>\n";
  }
  for (size_t r = 0; r < n; ++r) {
    int64_t row_total = 0;
    for (int64_t v : matrix[r]) row_total += v;
    for (size_t c = 0; c < n; ++c) {
      const double share =
          row_total > 0 ? static_cast<double>(matrix[r][c]) / static_cast<double>(row_total) : 0;
      // White to a dark blue; the count is written in white on dark cells.
      const int red = static_cast<int>(255 - share * (255 - 8));
      const int green = static_cast<int>(255 - share * (255 - 48));
      const int blue = static_cast<int>(255 - share * (255 - 107));
      char colour[8];
      std::snprintf(colour, sizeof colour, "#%02x%02x%02x", red, green, blue);
      const int x = left + cell * static_cast<int>(c), y = top + cell * static_cast<int>(r);
      svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cell << "\" height=\"" << cell
          << "\" fill=\"" << colour << "\" stroke=\"#cccccc\"><title>gold " << label_text(labels[r])
          << ", predicted " << label_text(labels[c]) << ": " << matrix[r][c] << "</title></rect>\n";
      svg << "<text x=\"" << x + cell / 2 << "\" y=\"" << y + cell / 2 + 4
          << "\" text-anchor=\"middle\" font-size=\"" << (cell > 30 ? 11 : 8) << "\" fill=\""
          << (share > 0.5 ? "white" : "black") << "\">" << matrix[r][c] << "</text>\n";
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

void write_confusion_matrix(const std::string& run_dir, const nlohmann::json& labels,
                            const nlohmann::json& matrix, const nlohmann::json& epoch) {
  const auto names = labels.get<std::vector<std::string>>();
  const auto cells = matrix.get<std::vector<std::vector<int64_t>>>();
  const nlohmann::json j = {{"epoch", epoch}, {"labels", labels}, {"matrix", matrix}};
  io::atomic_write_file(run_dir + "/confusion_matrix.json", j.dump(1) + "\n");
  io::atomic_write_file(run_dir + "/confusion_matrix.svg",
                        render_confusion_matrix(names, cells,
                                                "confusion matrix, evaluation after epoch " +
                                                    epoch.dump() + " (rows: gold)"));
}

}  // namespace kiln::train
