#include "quant/sensitivity.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include "core/error.h"
#include "nn/image_layers.h"
#include "nn/layers.h"

namespace kiln::quant {

namespace {

nn::Module* module_of(nn::Module& model, const std::string& name) {
  const std::string path = name.substr(0, name.rfind('.'));
  for (auto& [p, m] : model.named_modules())
    if (p == path) return m;
  throw Error("quantize: no layer holds '" + name + "'");
}

std::string points(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << v;
  return os.str();
}

// "q4_0 0.12, int8 0.03": a tensor's drops alone in the formats tried.
std::string drops_text(const std::vector<std::string>& formats,
                       const std::map<std::string, double>& drops) {
  std::string out;
  for (const std::string& f : formats)
    out += (out.empty() ? "" : ", ") + f + " " + points(drops.at(f));
  return out;
}

}  // namespace

const std::vector<std::string>& auto_formats_all() {
  static const std::vector<std::string> all = {"q4_0", "q4_1", "int8"};
  return all;
}

std::vector<std::string> parse_auto_formats(const std::string& list, const std::string& what) {
  std::vector<bool> chosen(auto_formats_all().size(), false);
  size_t start = 0;
  for (;;) {
    const size_t comma = list.find(',', start);
    const std::string f = list.substr(start, comma == std::string::npos ? comma : comma - start);
    const auto it = std::find(auto_formats_all().begin(), auto_formats_all().end(), f);
    KILN_CHECK(it != auto_formats_all().end(), what, ": unknown format '", f,
               "' (a comma list of q4_0, q4_1 and int8)");
    const size_t i = static_cast<size_t>(it - auto_formats_all().begin());
    KILN_CHECK(!chosen[i], what, ": '", f, "' is listed twice");
    chosen[i] = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < chosen.size(); ++i)
    if (chosen[i]) out.push_back(auto_formats_all()[i]);
  return out;
}

void set_trial_format(nn::Module& model, const std::vector<std::string>& names,
                      const Tensor& original, const std::string& format) {
  const auto f = parse_format(format);
  Tensor rows;
  std::shared_ptr<const PackedQuantB> packed;
  if (f) {
    rows = quantize_tensor(original, *f);
    // n rows of k = the rest: a convolution's [c_out, c_in, kh, kw] is its GEMM's [c_out, k].
    packed = std::make_shared<const PackedQuantB>(*f, original.size(0),
                                                  original.numel() / original.size(0),
                                                  static_cast<const uint8_t*>(rows.raw_data()));
  }
  for (const std::string& name : names) {
    nn::Module* m = module_of(model, name);
    auto* lin = dynamic_cast<nn::Linear*>(m);
    auto* emb = dynamic_cast<nn::Embedding*>(m);
    auto* conv = dynamic_cast<nn::Conv2d*>(m);
    KILN_CHECK(lin || emb || conv, "quantize: '", name,
               "' is not a Linear, Conv2d or Embedding weight");
    if (conv) {
      if (conv->quantized()) conv->clear_quantized(original);
      if (f) conv->set_quantized(packed, names.front());
      continue;
    }
    const bool quantized = lin ? lin->quantized() != nullptr : emb->quantized();
    if (quantized) lin ? lin->clear_quantized(original) : emb->clear_quantized(original);
    if (!f) continue;  // f32: the float weight stays
    if (lin)
      lin->set_quantized(packed, names.front());
    else
      emb->set_quantized(*f, original.size(0), original.size(1), rows, names.front());
  }
}

AutoResult choose_auto(nn::Module& model, const std::vector<Candidate>& candidates,
                       const std::function<double()>& measure, double max_drop, std::ostream& log,
                       const std::vector<std::string>& formats) {
  KILN_CHECK(!formats.empty(), "quantize: auto needs at least one candidate format");
  // Smallest first: the order auto tries formats in and steps up through.
  std::vector<std::string> ladder = formats;
  ladder.push_back("f32");
  AutoResult r;
  std::map<std::string, Tensor> originals;
  for (const auto& [name, t] : model.named_parameters()) originals[name] = *t;
  // Every name of each tensor (a tied one is in several layers), read while nothing is quantized.
  std::map<std::string, std::vector<std::string>> names;
  for (const auto& [name, t] : originals) names[name] = {name};
  for (const auto& [alias, canonical] : model.parameter_aliases())
    if (names.count(canonical)) names[canonical].push_back(alias);
  auto trial = [&](const std::string& name, const std::string& format) {
    set_trial_format(model, names.at(name), originals.at(name), format);
  };
  r.float_metric = measure();
  ++r.evaluations;
  log << "auto: float model metric " << points(r.float_metric) << "\n";
  // drops[name][format]: the metric drop with that tensor alone in that format.
  std::map<std::string, std::map<std::string, double>> drops;
  std::map<std::string, size_t> level;  // index into ladder
  for (const auto& c : candidates) {
    if (!c.eligible) continue;
    for (size_t i = 0; i + 1 < ladder.size(); ++i) {
      trial(c.name, ladder[i]);
      drops[c.name][ladder[i]] = r.float_metric - measure();
      ++r.evaluations;
    }
    trial(c.name, "");
    size_t l = 0;
    while (l + 1 < ladder.size() && drops[c.name][ladder[l]] > max_drop) ++l;
    level[c.name] = l;
    log << "auto: " << c.name << " alone: " << drops_text(formats, drops[c.name]) << " -> "
        << ladder[l] << "\n";
  }
  std::map<std::string, std::string> raised;  // why a tensor ended above its own choice
  for (;;) {
    for (const auto& [name, l] : level) trial(name, ladder[l]);
    r.final_metric = measure();
    ++r.evaluations;
    const double drop = r.float_metric - r.final_metric;
    if (drop <= max_drop) break;
    // The most sensitive tensor still quantized moves up one format.
    std::string worst;
    double worst_drop = -1e300;
    for (const auto& [name, l] : level) {
      if (ladder[l] == "f32") continue;
      const double d = drops[name][ladder[l]];
      if (d > worst_drop) worst_drop = d, worst = name;
    }
    if (worst.empty()) break;  // all float: the float metric itself
    size_t& l = level[worst];
    ++l;
    raised[worst] = "raised to keep the combined drop within " + points(max_drop) + " (it was " +
                    points(drop) + ")";
    log << "auto: combined drop " << points(drop) << " > " << points(max_drop) << ": " << worst
        << " -> " << ladder[l] << "\n";
  }
  for (const auto& [name, l] : level) trial(name, "");
  for (const auto& c : candidates) {
    TensorDecision d{c.name, c.shape, c.kind, "f32", c.reason};
    if (c.eligible) {
      const size_t l = level.at(c.name);
      d.format = ladder[l];
      if (d.format != "f32") d.drop = drops[c.name][d.format];
      std::ostringstream why;
      why << "auto: alone " << drops_text(formats, drops[c.name]) << " (budget " << points(max_drop)
          << ")";
      if (raised.count(c.name)) why << "; " << raised[c.name];
      d.reason = why.str();
    }
    r.decisions.push_back(std::move(d));
  }
  return r;
}

}  // namespace kiln::quant
