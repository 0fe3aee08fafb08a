#include "quant/prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "core/error.h"
#include "nn/quantized_weight.h"

namespace kiln::quant {
namespace {

const Tensor& block_tensor(const nn::ModelFile& mf, const std::string& name, int64_t dims,
                           const std::string& origin) {
  const auto it = mf.tensors.find(name);
  KILN_CHECK(it != mf.tensors.end(), origin, ": the feed-forward tensor '", name,
             "' is not in the file");
  const Tensor& t = it->second;
  KILN_CHECK(is_floating(t.dtype()) && t.dim() == dims, origin, ": tensor '", name, "' is ",
             t.describe(), ", expected a floating-point ", dims, "-D tensor");
  return t;
}

// The rows `keep` of a [rows, cols] tensor (any dtype), or of a [rows] one with cols = 1.
Tensor take_rows(const Tensor& t, const std::vector<int64_t>& keep) {
  const Tensor c = t.contiguous();
  const int64_t cols = c.dim() == 2 ? c.size(1) : 1;
  const size_t row_bytes = static_cast<size_t>(cols) * dtype_size(c.dtype());
  Tensor out = c.dim() == 2 ? Tensor::empty({static_cast<int64_t>(keep.size()), cols}, c.dtype())
                            : Tensor::empty({static_cast<int64_t>(keep.size())}, c.dtype());
  const auto* src = static_cast<const uint8_t*>(c.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < keep.size(); ++i)
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(keep[i]) * row_bytes, row_bytes);
  return out;
}

// The columns `keep` of a [rows, cols] tensor (any dtype).
Tensor take_columns(const Tensor& t, const std::vector<int64_t>& keep) {
  const Tensor c = t.contiguous();
  const int64_t rows = c.size(0), cols = c.size(1), n = static_cast<int64_t>(keep.size());
  const size_t es = dtype_size(c.dtype());
  Tensor out = Tensor::empty({rows, n}, c.dtype());
  const auto* src = static_cast<const uint8_t*>(c.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(dst + static_cast<size_t>(r * n + j) * es,
                  src + static_cast<size_t>(r * cols + keep[static_cast<size_t>(j)]) * es, es);
  return out;
}

}  // namespace

std::vector<double> magnitude_importance(const Tensor& up_w, const Tensor& up_b,
                                         const Tensor& down_w) {
  const int64_t f = up_w.size(0), h = up_w.size(1), hd = down_w.size(0);
  const std::vector<double> u = up_w.to_vector(), b = up_b.to_vector(), d = down_w.to_vector();
  std::vector<double> in(static_cast<size_t>(f)), out(static_cast<size_t>(f), 0.0);
  for (int64_t i = 0; i < f; ++i) {
    double s = b[static_cast<size_t>(i)] * b[static_cast<size_t>(i)];
    for (int64_t k = 0; k < h; ++k)
      s += u[static_cast<size_t>(i * h + k)] * u[static_cast<size_t>(i * h + k)];
    in[static_cast<size_t>(i)] = s;
  }
  for (int64_t r = 0; r < hd; ++r)
    for (int64_t i = 0; i < f; ++i)
      out[static_cast<size_t>(i)] +=
          d[static_cast<size_t>(r * f + i)] * d[static_cast<size_t>(r * f + i)];
  std::vector<double> score(static_cast<size_t>(f));
  for (size_t i = 0; i < score.size(); ++i) score[i] = std::sqrt(in[i]) * std::sqrt(out[i]);
  return score;
}

std::vector<FeedForwardPrune> prune_feed_forward(nn::ModelFile& mf, double keep,
                                                 const std::string& origin) {
  KILN_CHECK(keep > 0 && keep <= 1, origin,
             ": the share of neurons to keep must be in (0, 1], got ", keep);
  if (const std::string q = nn::first_quantized_tensor(mf.quantization); !q.empty())
    throw Error(origin + ": '" + q +
                "' is quantized (kiln.quantization); prune the float model, then quantize");
  const nn::ModelFamily& family = nn::family_by_name(mf.family, origin);
  const std::vector<nn::FeedForwardBlock> blocks = family.feed_forward_blocks(mf.config, origin);
  KILN_CHECK(!blocks.empty(), origin, ": the ", family.name(),
             " family has no feed-forward blocks to prune");

  // Every block's tensors checked, and each width field's new value, before anything changes.
  std::map<std::string, int64_t> new_width;
  for (const nn::FeedForwardBlock& b : blocks) {
    const Tensor& up = block_tensor(mf, b.up_weight, 2, origin);
    const Tensor& bias = block_tensor(mf, b.up_bias, 1, origin);
    const Tensor& down = block_tensor(mf, b.down_weight, 2, origin);
    const int64_t f = up.size(0);
    KILN_CHECK(bias.size(0) == f && down.size(1) == f && down.size(0) == up.size(1), origin,
               ": the feed-forward tensors disagree: '", b.up_weight, "' ", up.describe(), ", '",
               b.up_bias, "' ", bias.describe(), ", '", b.down_weight, "' ", down.describe());
    const auto field = mf.config.find(b.width_field);
    KILN_CHECK(field != mf.config.end() && field->is_number_integer() && field->get<int64_t>() == f,
               origin, ": config field '", b.width_field, "' should be ", f, " (the width of '",
               b.up_weight, "')");
    new_width[b.width_field] =
        std::max<int64_t>(1, static_cast<int64_t>(std::llround(keep * static_cast<double>(f))));
  }

  std::vector<FeedForwardPrune> report;
  for (const nn::FeedForwardBlock& b : blocks) {
    const Tensor up = mf.tensors.at(b.up_weight), bias = mf.tensors.at(b.up_bias),
                 down = mf.tensors.at(b.down_weight);
    const std::vector<double> score = magnitude_importance(up, bias, down);
    const int64_t f = up.size(0), k = new_width.at(b.width_field);
    std::vector<int64_t> order(static_cast<size_t>(f));
    std::iota(order.begin(), order.end(), 0);
    // The k most important; equal scores keep the lower index (a deterministic choice).
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t c) { return score[a] > score[c]; });
    std::vector<int64_t> kept(order.begin(), order.begin() + k);
    std::sort(kept.begin(), kept.end());
    double total = 0, held = 0;
    for (double s : score) total += s;
    for (int64_t i : kept) held += score[static_cast<size_t>(i)];
    mf.tensors[b.up_weight] = take_rows(up, kept);
    mf.tensors[b.up_bias] = take_rows(bias, kept);
    mf.tensors[b.down_weight] = take_columns(down, kept);
    report.push_back({b.up_weight, f, std::move(kept), total > 0 ? held / total : 1.0});
  }
  nlohmann::json widths = nlohmann::json::object();
  for (const auto& [field, width] : new_width) {
    widths[field] = {{"before", mf.config[field]}, {"after", width}};
    mf.config[field] = width;
  }
  // One entry per prune, appended: a file pruned twice says so.
  nlohmann::json history = nlohmann::json::array();
  if (const auto it = mf.extra_metadata.find(kPruningKey); it != mf.extra_metadata.end()) {
    const nlohmann::json old = nlohmann::json::parse(it->second, nullptr, false);
    if (old.is_array()) history = old;
  }
  history.push_back(
      {{"feed_forward", {{"keep", keep}, {"importance", "magnitude"}, {"widths", widths}}}});
  mf.extra_metadata[kPruningKey] = history.dump();
  return report;
}

}  // namespace kiln::quant
