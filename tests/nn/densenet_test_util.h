// What the DenseNet tests share: a model with seeded weights whose batch norms are not identities.
#pragma once

#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/densenet.h"

namespace kiln::nn {

// Seeded weights, and every batch norm's statistics and affine parameters randomised (so that no
// norm is an identity and a mixed-up channel shows).
inline void randomise_densenet(DenseNet& m, uint64_t seed) {
  Generator gen(seed);
  m.init_weights(gen);
  NoGradGuard ng;
  for (auto& [name, p] : m.named_parameters())
    if (p->dim() == 1) copy_(*p, add(mul(Tensor::rand(p->shape(), gen), 1.0), 0.25));
  for (auto& [name, b] : m.named_buffers()) {
    if (name.find("running_mean") != std::string::npos)
      copy_(*b, mul(Tensor::randn(b->shape(), gen), 0.3));
    if (name.find("running_var") != std::string::npos)
      copy_(*b, add(Tensor::rand(b->shape(), gen), 0.5));
  }
}

}  // namespace kiln::nn
