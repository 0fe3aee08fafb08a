// Size checks of the LED family that run before a model is built (the family's parameter_count
// and check_tensors hooks, nn/family.h): a checkpoint missing a tensor, or holding one whose
// shape the config does not give, is refused naming the tensor (and the config fields that set
// its shape) instead of building a different or an oversized model.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "nn/led.h"
#include "nn/module.h"

namespace kiln::nn {

struct LedTensorShape {
  std::string name;  // Hugging Face state-dict key as kiln stores it (tied aliases left out)
  Shape shape;
  std::string fields;   // the config fields that set the shape, for error messages
  bool buffer = false;  // final_logits_bias: not a parameter, and zero when not stored
};

// Every tensor of the LedModel built from `c`, computed from the config alone.
std::vector<LedTensorShape> led_tensor_shapes(const LedConfig& c);

// Parameters of that model, in f64 so that no product of configured sizes can overflow.
double led_parameter_count(const LedConfig& c);

// Each tensor of led_tensor_shapes() must be stored with its shape; errors name `origin`, the
// tensor and the config fields. Tensors not listed are left to load_state_dict.
void check_led_tensors(const LedConfig& c, const StateDict& tensors, const std::string& origin);

}  // namespace kiln::nn
