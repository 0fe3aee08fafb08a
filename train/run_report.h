// `kiln runs report`: one self-contained HTML page about a run (train/run_summary.h): a summary,
// inline SVG charts (train/svg_chart.h) of the training loss, the eval metrics, the learning
// rate, the gradient norm and the system figures, the parameters table and the whole manifest.
// No script, stylesheet or image is fetched: the file can be mailed or archived as it is.
#pragma once

#include <string>

#include "train/run_summary.h"

namespace kiln::train {

std::string render_run_report(const RunSummary& run);

}  // namespace kiln::train
