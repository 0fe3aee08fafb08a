#include "quant/speed_check.h"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "core/qgemm.h"

namespace kiln::quant {
namespace {

bool in_scope(SpeedCheck scope, Format f) {
  switch (scope) {
    case SpeedCheck::Off:
      return false;
    case SpeedCheck::Int8:
      return f == Format::Int8;
    case SpeedCheck::All:
      return true;
  }
  return false;
}

std::string times(const ShapeTiming& t, const std::string& format, int64_t rows) {
  std::ostringstream os;
  os << std::setprecision(3) << "float " << t.float_ms << " ms, " << format << " " << t.quant_ms
     << " ms at " << rows << " rows";
  return os.str();
}

}  // namespace

bool float_is_faster(const ShapeTiming& t, double tie_margin) {
  return t.float_ms * (1.0 + tie_margin) < t.quant_ms;
}

nlohmann::json apply_speed_check(std::vector<TensorDecision>& decisions,
                                 const SpeedCheckOptions& options, const ShapeTimer& timer) {
  KILN_CHECK(options.rows >= 1, "speed check: rows must be at least 1");
  KILN_CHECK(options.tie_margin >= 0, "speed check: the tie margin must be >= 0");
  nlohmann::json records = nlohmann::json::array();
  if (options.scope == SpeedCheck::Off) return records;
  std::map<std::tuple<int64_t, int64_t, std::string>, ShapeTiming> timed;
  for (TensorDecision& d : decisions) {
    const auto f = parse_format(d.format);
    // Only Linear weights run a GEMM of this shape; an embedding gathers rows, and a
    // convolution's GEMM has other row counts (output pixels), so neither is timed here.
    if (!f || d.kind != "linear" || !in_scope(options.scope, *f)) continue;
    KILN_CHECK(d.shape.size() == 2, "speed check: '", d.name, "' is not a 2-D Linear weight");
    const auto key = std::make_tuple(d.shape[0], d.shape[1], d.format);
    auto it = timed.find(key);
    if (it == timed.end()) {
      const ShapeTiming t = timer(options.rows, d.shape[0], d.shape[1], *f);
      it = timed.emplace(key, t).first;
      records.push_back({{"shape", d.shape},
                         {"format", d.format},
                         {"rows", options.rows},
                         {"kernel", qgemm_backend(*f)},
                         {"float_ms", t.float_ms},
                         {"quant_ms", t.quant_ms},
                         {"tie_margin", options.tie_margin},
                         {"kept", float_is_faster(t, options.tie_margin) ? "f32" : d.format}});
    }
    const ShapeTiming& t = it->second;
    if (float_is_faster(t, options.tie_margin)) {
      d.reason = "never slower: " + times(t, d.format, options.rows) + "; was: " + d.reason;
      d.format = "f32";
      d.drop = NAN;
    } else {
      d.reason += "; not slower: " + times(t, d.format, options.rows);
    }
  }
  return records;
}

}  // namespace kiln::quant
