#include "nn/inference_engine.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace kiln::nn {

namespace {

std::string names_of(const NamedTensors& item) {
  std::string out;
  for (const auto& [name, t] : item) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

NamedTensors collate_items(const std::vector<const NamedTensors*>& items,
                           const std::map<std::string, double>& pad_values) {
  KILN_CHECK(!items.empty(), "collate_items: no items");
  const NamedTensors& first = *items.front();
  NamedTensors batch;
  for (const auto& [name, proto] : first) {
    KILN_CHECK(proto.defined(), "inference item input '", name, "' is undefined");
    // Every dimension is padded to the largest member; an empty sequence still gets one (padding)
    // element so that the model never sees a zero-length batch.
    Shape shape(proto.shape().size() + 1, 1);
    shape[0] = static_cast<int64_t>(items.size());
    for (const NamedTensors* item : items) {
      KILN_CHECK(item->size() == first.size(), "inference items have different inputs (",
                 names_of(first), " vs ", names_of(*item), ")");
      auto it = item->find(name);
      KILN_CHECK(it != item->end(), "inference items have different inputs (", names_of(first),
                 " vs ", names_of(*item), ")");
      const Tensor& t = it->second;
      KILN_CHECK(t.defined() && t.dim() == proto.dim() && t.dtype() == proto.dtype(),
                 "inference input '", name, "' is ", proto.describe(), " in one item and ",
                 t.defined() ? t.describe() : std::string("undefined"),
                 " in another (same rank and dtype needed)");
      for (int64_t d = 0; d < t.dim(); ++d) shape[d + 1] = std::max(shape[d + 1], t.size(d));
    }
    auto pad = pad_values.find(name);
    Tensor out = Tensor::full(shape, pad == pad_values.end() ? 0.0 : pad->second, proto.dtype());
    const size_t row_bytes = out.nbytes() / items.size();
    for (size_t r = 0; r < items.size(); ++r) {
      const Tensor& t = items[r]->at(name);
      // A contiguous item that is padded along dimension 0 at most (a token sequence, or an item
      // of the batch's full shape) is one block at the start of its row: a plain copy, which
      // matters for small models where per-item overhead shows.
      bool block = t.is_contiguous();
      for (int64_t d = 1; d < t.dim() && block; ++d) block = t.size(d) == shape[d + 1];
      if (block) {
        std::memcpy(static_cast<char*>(out.raw_data()) + r * row_bytes, t.raw_data(), t.nbytes());
        continue;
      }
      Tensor dst = out.select(0, static_cast<int64_t>(r));
      for (int64_t d = 0; d < t.dim(); ++d) dst = dst.slice(d, 0, t.size(d));
      copy_(dst, t);
    }
    batch[name] = out;
  }
  return batch;
}

InferenceEngine::InferenceEngine(const Model& model, InferenceOptions options)
    : model_(model), options_(std::move(options)) {
  KILN_CHECK(options_.batch_size >= 1, "inference batch size must be at least 1, got ",
             options_.batch_size);
}

int64_t InferenceEngine::item_length(const NamedTensors& item) {
  int64_t len = 0;
  for (const auto& [name, t] : item)
    if (t.defined() && t.dim() >= 1) len = std::max(len, t.size(0));
  return len;
}

void InferenceEngine::submit(NamedTensors item) {
  queue_.push_back(std::move(item));
}

std::vector<NamedTensors> InferenceEngine::run(std::vector<NamedTensors> items) {
  for (auto& item : items) submit(std::move(item));
  return run();
}

std::vector<NamedTensors> InferenceEngine::run() {
  std::vector<NamedTensors> items = std::move(queue_);
  queue_.clear();
  std::vector<NamedTensors> results(items.size());
  if (items.empty()) return results;

  NoGradGuard no_grad;
  std::vector<int64_t> lengths(items.size());
  for (size_t i = 0; i < items.size(); ++i) lengths[i] = item_length(items[i]);
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });

  auto wanted = [&](const std::string& name) {
    return options_.outputs.empty() || std::find(options_.outputs.begin(), options_.outputs.end(),
                                                 name) != options_.outputs.end();
  };
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const size_t end = std::min(order.size(), start + batch_size);
    std::vector<const NamedTensors*> members;
    int64_t padded = 1;  // collate_items pads an empty sequence to one element
    for (size_t i = start; i < end; ++i) {
      members.push_back(&items[order[i]]);
      padded = std::max(padded, lengths[order[i]]);
    }
    const int64_t b = static_cast<int64_t>(members.size());
    const NamedTensors outputs =
        model_.forward(collate_items(members, options_.pad_values), options_.forward);
    for (const auto& name : options_.outputs)
      KILN_CHECK(outputs.count(name), "the model has no output '", name,
                 "' (outputs: ", names_of(outputs), ")");
    for (int64_t r = 0; r < b; ++r) {
      const size_t index = order[start + static_cast<size_t>(r)];
      NamedTensors& mine = results[index];
      for (const auto& [name, t] : outputs) {
        if (!wanted(name)) continue;
        KILN_CHECK(t.dim() >= 1 && t.size(0) == b, "model output '", name, "' ", t.describe(),
                   " has no batch dimension of ", b);
        Tensor item = t.select(0, r);
        if (t.dim() >= 3 && t.size(1) == padded && lengths[index] < padded)
          item = item.slice(0, 0, lengths[index]);
        mine[name] = item;
      }
    }
  }
  return results;
}

}  // namespace kiln::nn
