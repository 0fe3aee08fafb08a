#include "nn/empty_init.h"

#include <vector>

#include "core/error.h"

namespace kiln::nn {

namespace {

thread_local bool empty_init_on = false;

// The one element every placeholder views (wrapped read-only, so an in-place write into a
// placeholder is refused like one into a mapped file). Its address identifies placeholders: no
// other storage starts here. 8 bytes would hold any dtype's zero; 64 keeps it cache-line aligned.
alignas(64) const unsigned char kPlaceholderBytes[64] = {};

}  // namespace

EmptyInit::EmptyInit(bool on) : previous_(empty_init_on) {
  empty_init_on = previous_ || on;
}

EmptyInit::~EmptyInit() {
  empty_init_on = previous_;
}

bool empty_init_active() {
  return empty_init_on;
}

Tensor placeholder_tensor(const Shape& shape, DType dtype) {
  // An empty tensor costs nothing anyway, and a size-0 dimension cannot be broadcast from 1.
  if (shape_numel(shape) == 0) return Tensor::zeros(shape, dtype);
  return Tensor::from_blob(kPlaceholderBytes, Shape(shape.size(), 1), dtype, nullptr).expand(shape);
}

bool is_placeholder(const Tensor& t) {
  return t.defined() && t.storage()->data() == static_cast<const void*>(kPlaceholderBytes);
}

Tensor new_state_tensor(const Shape& shape, double value, DType dtype) {
  if (empty_init_on) return placeholder_tensor(shape, dtype);
  return value == 0.0 ? Tensor::zeros(shape, dtype) : Tensor::full(shape, value, dtype);
}

void check_no_placeholders(const Module& model, const std::string& origin) {
  std::vector<std::string> left;
  for (const auto& [name, t] : model.named_parameters())
    if (is_placeholder(*t)) left.push_back(name);
  for (const auto& [name, t] : model.named_buffers())
    if (is_placeholder(*t)) left.push_back(name);
  if (left.empty()) return;
  constexpr size_t kShown = 20;  // a whole model's worth of names would bury the message
  std::string names;
  for (size_t i = 0; i < left.size() && i < kShown; ++i) names += (i ? ", " : "") + left[i];
  if (left.size() > kShown) names += ", ... and " + std::to_string(left.size() - kShown) + " more";
  throw Error(origin + ": the file has no tensor for " + names +
              ", which the model needs (the file is incomplete or damaged; kiln does not fill a "
              "missing tensor with a default or random values)");
}

}  // namespace kiln::nn
